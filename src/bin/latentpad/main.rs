//! The `latentpad` command-line program: fetch data, train, sample, interpolate, fine-tune,
//! evaluate and report, all on the library the browser build uses.

#[cfg(not(target_arch = "wasm32"))]
mod args;
#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> anyhow::Result<()> {
    cli::main()
}

/// The CLI is native; cargo still builds a binary when it tests the wasm target.
#[cfg(target_arch = "wasm32")]
fn main() {}
