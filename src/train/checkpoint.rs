//! Helpers for native training checkpoints: full-precision burnpack records and a JSON state
//! file written atomically, so a run killed mid-save resumes from the previous checkpoint.

use std::path::Path;

use burn::module::Module;
use burn::store::{ModuleRecord, RecordError};
use serde::{Serialize, de::DeserializeOwned};

use crate::{Error, Result};

/// Maps burn's record error to ours, naming the file.
pub fn record_err(path: &Path) -> impl Fn(RecordError) -> Error + '_ {
    move |e| Error::io(path, std::io::Error::other(e.to_string()))
}

/// Saves a record as `dir/name`.
pub fn save_record(dir: &Path, name: &str, record: ModuleRecord) -> Result<()> {
    let path = dir.join(name);
    record.save(&path).map_err(record_err(&path))
}

/// Loads `dir/name` into `module`.
pub fn load_record<M: Module>(dir: &Path, name: &str, module: M) -> Result<M> {
    let path = dir.join(name);
    let record = ModuleRecord::load(&path).map_err(record_err(&path))?;
    module.try_load_record(record).map_err(record_err(&path))
}

/// Writes `dir/state.json` via a temporary file and a rename. The state is written last, so
/// it only ever names a complete set of records.
pub fn write_state<S: Serialize>(dir: &Path, state: &S) -> Result<()> {
    let path = dir.join("state.json");
    let json = serde_json::to_vec_pretty(state).map_err(|e| Error::io(&path, e.into()))?;
    let tmp = dir.join("state.json.tmp");
    std::fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
}

/// Reads `dir/state.json`.
pub fn read_state<S: DeserializeOwned>(dir: &Path) -> Result<S> {
    let path = dir.join("state.json");
    let json = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_slice(&json).map_err(|e| Error::io(&path, e.into()))
}
