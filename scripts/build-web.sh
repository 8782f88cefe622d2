#!/usr/bin/env bash
# Builds the browser package into pkg/: the release wasm (CPU backend), wasm-bindgen's JS glue
# at exactly the wasm-bindgen version in Cargo.lock, then wasm-opt (binaryen from npm).
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

cargo build --release --lib --target wasm32-unknown-unknown
rm -rf pkg
wasm-bindgen --target web --out-dir pkg "$target_dir/wasm32-unknown-unknown/release/latentpad.wasm"
# binaryen from npm (pinned in package.json): Debian's wasm-opt 108 is too old for the
# reference types wasm-bindgen emits and produces a module that fails to instantiate.
[ -d node_modules/binaryen ] || npm ci --no-audit --no-fund
# Every feature the Rust toolchain and wasm-bindgen emit must be enabled for wasm-opt.
node_modules/.bin/wasm-opt -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-reference-types --enable-sign-ext --enable-mutable-globals --enable-multivalue \
  pkg/latentpad_bg.wasm -o pkg/latentpad_bg.wasm
ls -l pkg/latentpad_bg.wasm
