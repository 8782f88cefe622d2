# The two commands the README starts with, and the steps behind them.
# Cargo's target folder may live outside the clone (CI keeps one warm across runs).

CARGO ?= cargo
PORT ?= 8000
BIN = $(or $(CARGO_TARGET_DIR),target)/release/latentpad

.PHONY: serve web web-cpu web-webgpu web-threads test test-js test-native test-wasm test-browser cli demo data bench bench-web

# Build the browser package and serve the demo page on the shipped models. The page is served as
# soon as the CPU build exists (minutes sooner on a cold machine); the threaded CPU build and the
# WebGPU build go on in the background into web-build.log, and the page uses each once it is
# there (reload).
serve: web-cpu
	@scripts/build-web.sh threads webgpu > web-build.log 2>&1 & \
	echo "serving the CPU build; the threaded and WebGPU builds go on in the background (web-build.log)"; \
	trap 'kill $$! 2>/dev/null' EXIT; python3 scripts/serve.py $(PORT)

web:
	scripts/build-web.sh cpu threads webgpu

web-cpu:
	scripts/build-web.sh cpu

web-webgpu:
	scripts/build-web.sh webgpu

web-threads:
	scripts/build-web.sh threads

# Everything: the browser side's plain JS (Node, no build), native tests, then the CPU browser
# build and the wasm facade's tests in Chromium (wasm-bindgen-test), then the threaded CPU build
# and the WebGPU build and the end-to-end tests of the page and the widget (Playwright), which
# need all three.
test: test-js test-native test-wasm test-browser

test-js:
	node --test tests/js/

test-native:
	$(CARGO) test --release

# wasm-bindgen-test-runner comes with wasm-bindgen-cli (installed by `web`); it drives
# Debian's chromedriver with the options in webdriver.json.
test-wasm: web-cpu
	scripts/ensure-browser-deps.sh
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner CHROMEDRIVER=/usr/bin/chromedriver \
	  $(CARGO) test --release --target wasm32-unknown-unknown --test wasm

test-browser: web-cpu web-threads web-webgpu
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
