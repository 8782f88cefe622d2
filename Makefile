# The two commands the README starts with, and the steps behind them.
# Cargo's target folder may live outside the clone (CI keeps one warm across runs).

CARGO ?= cargo
PORT ?= 8000
BIN = $(or $(CARGO_TARGET_DIR),target)/release/latentpad

.PHONY: serve web test test-native test-wasm test-browser cli demo data bench bench-web

# Build the browser package and serve the demo page on the shipped models.
serve: web
	python3 scripts/serve.py $(PORT)

web:
	scripts/build-web.sh

# Everything: native tests, then the browser build, the wasm facade's tests in Chromium
# (wasm-bindgen-test) and the end-to-end tests of the page and the widget (Playwright).
test: test-native test-wasm test-browser

test-native:
	$(CARGO) test --release

# wasm-bindgen-test-runner comes with wasm-bindgen-cli (installed by `web`); it drives
# Debian's chromedriver with the options in webdriver.json.
test-wasm: web
	scripts/ensure-browser-deps.sh
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner CHROMEDRIVER=/usr/bin/chromedriver \
	  $(CARGO) test --release --target wasm32-unknown-unknown --test wasm

test-browser: web
	scripts/ensure-browser-deps.sh
	npm run test:e2e

cli:
	$(CARGO) build --release --bin latentpad

# Native sample grids and an interpolation strip from the shipped models, into out/.
demo: cli
	mkdir -p out
	$(BIN) sample --model models/emoji-gan --n 64 --seed 7 --out out/samples.png
	$(BIN) interpolate --model models/emoji-gan --from-seed 1 --to-seed 2 --frames 16 --out out/interpolation.png
	$(BIN) sample --model models/emoji-vae --n 64 --seed 7 --out out/vae-samples.png

data: cli
	$(BIN) fetch-data

bench:
	$(CARGO) bench --bench throughput

# Browser figures (sizes, first image, sampling, fine-tuning) from headless Chromium, as JSON.
bench-web: web
	scripts/ensure-browser-deps.sh
	node scripts/bench-web.mjs
