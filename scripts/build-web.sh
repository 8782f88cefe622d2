#!/usr/bin/env bash
# Builds the browser package into pkg/: two release wasm builds (pkg/cpu: CPU only, the small
# fallback; pkg/webgpu: WebGPU and CPU), wasm-bindgen's JS glue at exactly the wasm-bindgen
# version in Cargo.lock, wasm-opt (binaryen from npm), then the JS API, the <latent-pad>
# element, their types and a package.json, so pkg/ is also an npm package.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then
  echo "installing wasm-bindgen-cli $version (matches Cargo.lock)"
  # Not --locked: its lock names a webpki-roots release the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$version"
fi
# binaryen from npm (pinned in package.json): Debian's wasm-opt 108 is too old for the
# reference types wasm-bindgen emits and produces a module that fails to instantiate.
[ -d node_modules/binaryen ] || npm ci --no-audit --no-fund

rm -rf pkg
for flavour in cpu webgpu; do
  features=()
  [ "$flavour" = webgpu ] && features=(--features webgpu)
  cargo build --release --lib --target wasm32-unknown-unknown "${features[@]}"
  # deps/latentpad.wasm is the library's own output: release/latentpad.wasm can instead be the
  # CLI's native-only stub, which shares the name when cargo tests the wasm target.
  wasm-bindgen --target web --out-dir "pkg/$flavour" "$target_dir/wasm32-unknown-unknown/release/deps/latentpad.wasm"
  # Every feature the Rust toolchain and wasm-bindgen emit must be enabled for wasm-opt.
  # The WebGPU build at -O1: measured here it is 3x faster to optimise than at -O3 (2 min
  # against 6) and smaller once brotli'd (2.71 MB against 2.94); the CPU build gets -O3.
  level=-O3
  [ "$flavour" = webgpu ] && level=-O1
  node_modules/.bin/wasm-opt "$level" --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-reference-types --enable-sign-ext --enable-mutable-globals --enable-multivalue \
    "pkg/$flavour/latentpad_bg.wasm" -o "pkg/$flavour/latentpad_bg.wasm"
done

# The package's own files: in pkg/ the worker finds the wasm beside it, not in ../pkg/.
cp www/latentpad.js www/latent-pad.js www/client.js www/latent-pad.css www/*.d.ts pkg/
sed 's#new URL("../pkg/", import.meta.url)#new URL("./", import.meta.url)#' www/worker.js > pkg/worker.js
grep -q 'new URL("./", import.meta.url)' pkg/worker.js || { echo "worker.js: WASM_DIR line not rewritten" >&2; exit 1; }
crate_version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
sed "s/\"version\": \"0.0.0\"/\"version\": \"$crate_version\"/" www/package.json.in > pkg/package.json
ls -l pkg/*/latentpad_bg.wasm
