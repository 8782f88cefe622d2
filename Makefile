# The two commands the README starts with, and the steps behind them.
# Cargo's target folder may live outside the clone (CI keeps one warm across runs).

CARGO ?= cargo
BIN = $(or $(CARGO_TARGET_DIR),target)/release/latentpad

.PHONY: demo test cli data bench

cli:
	$(CARGO) build --release --bin latentpad

# Native demo on the shipped default model (the browser page arrives with issue 3).
demo: cli
	mkdir -p out
	$(BIN) sample --model models/emoji-gan --n 64 --seed 7 --out out/samples.png
	$(BIN) interpolate --model models/emoji-gan --from-seed 1 --to-seed 2 --frames 16 --out out/interpolation.png
	$(BIN) sample --model models/emoji-vae --n 64 --seed 7 --out out/vae-samples.png
	@echo "open out/samples.png, out/interpolation.png and out/vae-samples.png"

test:
	$(CARGO) test --release

data: cli
	$(BIN) fetch-data

bench:
	$(CARGO) bench --bench throughput
