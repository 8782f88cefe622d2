#!/usr/bin/env bash
# Builds the browser package into pkg/: the JS API, the <latent-pad> element, their types and a
# package.json (so pkg/ is also an npm package), then the release wasm builds named on the
# command line, default all three: pkg/cpu (CPU only, the small fallback), pkg/threads (the CPU
# build on a pool of Web Workers, for cross-origin isolated pages; nightly Rust) and pkg/webgpu
# (WebGPU and CPU), each with wasm-bindgen's JS glue at exactly the wasm-bindgen version in
# Cargo.lock and wasm-opt (binaryen from npm). A flavour replaces its folder only once it is complete, so a
# page served meanwhile keeps working (without pkg/webgpu it runs on the CPU build).
#
# Usage: scripts/build-web.sh [cpu] [threads] [webgpu]
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"
flavours=("$@")
[ ${#flavours[@]} -eq 0 ] && flavours=(cpu threads webgpu)

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then
  echo "installing wasm-bindgen-cli $version (matches Cargo.lock)"
  # Not --locked: its lock names a webpki-roots release the registry no longer serves.
  # No TLS (the test runner is pointed at Debian's chromedriver, it downloads nothing) and
  # opt-level 1: a cold install in ~1/3 of the time, and wasm-bindgen still takes ~1 s.
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install wasm-bindgen-cli --version "$version" --no-default-features
fi
# binaryen from npm (pinned in package.json): Debian's wasm-opt 108 is too old for the
# reference types wasm-bindgen emits and produces a module that fails to instantiate.
[ -d node_modules/binaryen ] || npm ci --no-audit --no-fund

# The package's own files: in pkg/ the worker finds the wasm beside it, not in ../pkg/.
mkdir -p pkg
cp www/api.js www/latent-pad.js www/latent-pad-template.js www/paint.js www/limits.js www/storage.js www/client.js www/latent-pad.css www/*.d.ts pkg/
sed 's#new URL("../pkg/", import.meta.url)#new URL("./", import.meta.url)#' www/worker.js > pkg/worker.js
grep -q 'new URL("./", import.meta.url)' pkg/worker.js || { echo "worker.js: WASM_DIR line not rewritten" >&2; exit 1; }
crate_version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
sed "s/\"version\": \"0.0.0\"/\"version\": \"$crate_version\"/" www/package.json.in > pkg/package.json

for flavour in "${flavours[@]}"; do
  start=$SECONDS
  features=()
  case "$flavour" in
    cpu) ;;
    webgpu) features=(--features webgpu) ;;
    threads) ;;
    *) echo "build-web.sh: unknown flavour '$flavour' (cpu, webgpu, threads)" >&2; exit 2 ;;
  esac
  # The library is an rlib for native builds and tests; only here is it linked as a cdylib.
  # deps/latentpad.wasm is the library's own output: release/latentpad.wasm can instead be the
  # CLI's native-only stub, which shares the name when cargo tests the wasm target.
  if [ "$flavour" = threads ]; then
    # Shared memory needs the standard library rebuilt with atomics: nightly Rust and
    # build-std, in a target folder of its own (another compiler, other flags). The linker is
    # told what wasm-bindgen's thread support expects (this nightly no longer implies it from
    # `atomics`): an imported shared memory, which may grow to 4 GiB like the other builds'
    # (a shared memory declares its maximum), and the thread-local storage exports.
    rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src' ||
      rustup component add rust-src --toolchain nightly
    rustup target list --toolchain nightly --installed | grep -qx wasm32-unknown-unknown ||
      rustup target add wasm32-unknown-unknown --toolchain nightly
    link="--shared-memory --import-memory --max-memory=4294967296 --export=__wasm_init_tls"
    link+=" --export=__tls_size --export=__tls_align --export=__tls_base"
    RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+simd128 $(printf -- ' -C link-arg=%s' $link)" \
      cargo +nightly rustc -Z build-std=panic_abort,std --release --lib --target wasm32-unknown-unknown \
      --target-dir "$target_dir/threads" --crate-type cdylib --features threads
    wasm="$target_dir/threads/wasm32-unknown-unknown/release/deps/latentpad.wasm"
  else
    cargo rustc --release --lib --target wasm32-unknown-unknown --crate-type cdylib "${features[@]}"
    wasm="$target_dir/wasm32-unknown-unknown/release/deps/latentpad.wasm"
  fi
  # wasm-bindgen and wasm-opt take minutes on the WebGPU build: skip them when cargo's output
  # is the one pkg/$flavour was made from (same bytes, same script).
  stamp="$(sha256sum "$wasm" "$0" | sha256sum | cut -d' ' -f1)"
  if [ -f "pkg/$flavour/.built-from" ] && [ "$(cat "pkg/$flavour/.built-from")" = "$stamp" ]; then
    echo "build-web.sh: pkg/$flavour is up to date"
    continue
  fi
  out="pkg/.$flavour.partial"
  rm -rf "$out"
  wasm-bindgen --target web --out-dir "$out" "$wasm"
  if [ "$flavour" = threads ]; then
    # wasm-bindgen-rayon's worker script imports its package by folder ('../../..'), which
    # only a bundler resolves: point it at the module itself.
    helpers=$(find "$out/snippets" -name workerHelpers.js)
    sed -i "s#import('../../..')#import('../../../latentpad.js')#" $helpers
    grep -q "import('../../../latentpad.js')" $helpers || { echo "workerHelpers.js: import not rewritten" >&2; exit 1; }
  fi
  # Every feature the Rust toolchain and wasm-bindgen emit must be enabled for wasm-opt.
  # The WebGPU build at -O1: measured here it is 3x faster to optimise than at -O3 (2 min
  # against 6) and smaller once brotli'd (2.71 MB against 2.94); the CPU build gets -O3.
  level=-O3
  [ "$flavour" = webgpu ] && level=-O1
  threads=()
  [ "$flavour" = threads ] && threads=(--enable-threads)
  node_modules/.bin/wasm-opt "$level" --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-reference-types --enable-sign-ext --enable-mutable-globals --enable-multivalue "${threads[@]}" \
    "$out/latentpad_bg.wasm" -o "$out/latentpad_bg.wasm"
  echo "$stamp" > "$out/.built-from"
  rm -rf "pkg/$flavour"
  mv "$out" "pkg/$flavour"
  echo "build-web.sh: pkg/$flavour in $((SECONDS - start)) s ($(wc -c < "pkg/$flavour/latentpad_bg.wasm") bytes of wasm)"
done
