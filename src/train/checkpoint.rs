//! Native training checkpoints: full-precision burnpack records of the networks and optimiser
//! states and a JSON state file, written so that a run killed at any moment resumes from the
//! last complete checkpoint; and the loss log beside it.

use std::path::Path;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::{ModuleRecord, RecordError};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::state::TrainState;
use crate::latent::SplitMix64;
use crate::{Error, Result};

/// The counters and settings of a checkpoint (`state.json`), for a trainer with training
/// settings `C` and architecture `M`.
#[derive(Serialize, Deserialize)]
pub(crate) struct State<C, M> {
    step: u64,
    rng: u64,
    #[serde(default)]
    base_steps: u64,
    #[serde(default)]
    fine_tuned: bool,
    /// Training settings.
    pub config: C,
    /// Architecture.
    pub model: M,
}

impl<C, M> State<C, M> {
    /// Puts the saved counters and provenance back into a trainer's state.
    pub fn restore(&self, train: &mut TrainState) {
        train.step = self.step;
        train.rng = SplitMix64::new(self.rng);
        train.base_steps = self.base_steps;
        train.fine_tuned = self.fine_tuned;
    }
}

/// Writes a checkpoint into `dir` (created): each network's record (`name.bpk`), each
/// optimiser's state, then `state.json`, last, so it only ever names a complete set.
pub(crate) fn save<C: Serialize, M: Serialize>(
    dir: &Path,
    train: &TrainState,
    config: &C,
    model: &M,
    networks: Vec<(&str, ModuleRecord)>,
    optimizers: &[(&str, &ModuleOptimizer)],
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (name, record) in networks {
        let path = dir.join(format!("{name}.bpk"));
        record.save(&path).map_err(record_err(&path))?;
    }
    for (name, optimizer) in optimizers {
        let path = dir.join(format!("{name}.bpk"));
        optimizer.save(&path).map_err(record_err(&path))?;
    }
    let state = State {
        step: train.step,
        rng: train.rng.state(),
        base_steps: train.base_steps,
        fine_tuned: train.fine_tuned,
        config,
        model,
    };
    write_json_atomically(&dir.join("state.json"), &state)
}

/// Reads `dir/state.json`.
pub(crate) fn load_state<C: DeserializeOwned, M: DeserializeOwned>(
    dir: &Path,
) -> Result<State<C, M>> {
    let path = dir.join("state.json");
    let json = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_slice(&json).map_err(|e| Error::io(&path, e.into()))
}

/// Loads `dir/name.bpk` into `module`.
pub(crate) fn load_network<M: Module>(dir: &Path, name: &str, module: M) -> Result<M> {
    let path = dir.join(format!("{name}.bpk"));
    let record = ModuleRecord::load(&path).map_err(record_err(&path))?;
    module.try_load_record(record).map_err(record_err(&path))
}

/// Loads `dir/name.bpk` into an optimiser.
pub(crate) fn load_optimizer(
    dir: &Path,
    name: &str,
    optimizer: ModuleOptimizer,
) -> Result<ModuleOptimizer> {
    let path = dir.join(format!("{name}.bpk"));
    optimizer.load(&path).map_err(record_err(&path))
}

/// Replaces the checkpoint folder `dir` by one that `save` writes, never leaving it
/// half-written: `save` writes `dir.new`, the old folder steps aside as `dir.old`, the new one
/// takes its place, the old one goes. [`recover`] undoes a kill between the two renames.
pub fn replace(dir: &Path, save: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let fresh = dir.with_extension("new");
    let old = dir.with_extension("old");
    let _ = std::fs::remove_dir_all(&fresh);
    save(&fresh)?;
    if dir.exists() {
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::rename(&fresh, dir).map_err(|e| Error::io(dir, e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Whether `dir` holds a checkpoint to resume, after putting back one that a run killed
/// inside [`replace`] left as `dir.old`.
pub fn recover(dir: &Path) -> Result<bool> {
    let old = dir.with_extension("old");
    if !dir.join("state.json").is_file() && old.join("state.json").is_file() {
        std::fs::rename(&old, dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(dir.join("state.json").is_file())
}

/// Maps burn's record error to ours, naming the file.
fn record_err(path: &Path) -> impl Fn(RecordError) -> Error + '_ {
    move |e| Error::io(path, std::io::Error::other(e.to_string()))
}

/// Writes `value` as JSON to `path` via a temporary file and a rename.
fn write_json_atomically<S: Serialize>(path: &Path, value: &S) -> Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| Error::io(path, e.into()))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
