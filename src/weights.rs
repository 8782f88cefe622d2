//! Weights files: a small self-describing container holding the architecture (`ModelConfig`),
//! provenance metadata, and one or more named burnpack records stored in half precision.
//!
//! Layout: the 8 magic bytes `LPADW\x01\r\n`, a little-endian `u32` header length, the JSON
//! header, then each part's bytes in header order. The magic catches a wrong file early, the
//! embedded config catches weights for another architecture, burn's record validation catches
//! anything that still does not fit, and everything works from bytes (the browser has no
//! file system).

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, FloatDType};
use serde::{Deserialize, Serialize};

use crate::backend::read_f32;
use crate::model::{ModelConfig, params};
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"LPADW\x01\r\n";
/// Refuse headers larger than this. Most are a few hundred bytes; a VAE's fitted prior keeps
/// its centres in the header, about 0.5 MB for 512 centres of 128 numbers and 2 MB for 512 of
/// a 512-number grid latent.
const MAX_HEADER: usize = 16 << 20;

/// Provenance carried by every weights file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct WeightsMeta {
    /// Name of the model ("emoji-gan").
    pub name: String,
    /// Whether these weights were fine-tuned from a shipped model.
    #[serde(default)]
    pub fine_tuned: bool,
    /// Training steps behind these weights (pretraining plus fine-tuning).
    #[serde(default)]
    pub steps: u64,
    /// Software that wrote the file.
    #[serde(default)]
    pub software: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    config: ModelConfig,
    meta: WeightsMeta,
    parts: Vec<PartHeader>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PartHeader {
    name: String,
    len: usize,
    /// FNV-1a 64 of the part's bytes, hex: damage is caught before the tensor reader runs.
    fnv64: String,
}

fn fnv64(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// A parsed weights file.
#[derive(Debug, Clone)]
pub struct WeightsFile {
    /// The architecture the parts belong to.
    pub config: ModelConfig,
    /// Provenance.
    pub meta: WeightsMeta,
    /// Name of the file, for messages.
    pub source_name: String,
    parts: Vec<(String, Vec<u8>)>,
}

struct CastFloats(FloatDType);

impl ModuleMapper for CastFloats {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|t| t.cast(dtype))
    }
}

/// A copy of `module` on the CPU device, read back asynchronously. Serialising reads tensors
/// synchronously, which panics on WebGPU, so weights leave a GPU through this first.
pub async fn to_host<M: Module>(module: &M) -> Result<M> {
    let mut values = HashMap::new();
    for (path, tensor) in params::floats_by_path(module) {
        values.insert(path, read_f32(tensor).await?);
    }
    let host = crate::backend::default_device();
    Ok(params::map_floats(module.valid(), |path, _, flat| {
        let values = values.remove(path).unwrap_or_default();
        let n = flat.dims()[0];
        Tensor::from_data(TensorData::new(values, [n]), &host)
    }))
}

/// A module's parameters as half-precision burnpack bytes, from any device.
pub async fn module_to_bytes_async<M: Module>(module: &M) -> Result<Vec<u8>> {
    module_to_bytes(&to_host(module).await?)
}

/// A module's parameters as half-precision burnpack bytes (synchronous: CPU modules only;
/// see [`module_to_bytes_async`]).
///
/// `valid()` first gives the copy fresh running-state cells, so the cast cannot reach back
/// into the caller's module (burn shares batch-norm statistics between clones).
pub fn module_to_bytes<M: Module>(module: &M) -> Result<Vec<u8>> {
    let half = module.valid().map(&mut CastFloats(FloatDType::F16));
    let bytes = half
        .into_record()
        .into_bytes()
        .map_err(|e| Error::WeightsFormat {
            source_name: "(in memory)".into(),
            reason: e.to_string(),
        })?;
    Ok(bytes.to_vec())
}

impl WeightsFile {
    /// A new file for `config` from named modules' bytes (see [`module_to_bytes`]).
    pub fn new(config: ModelConfig, meta: WeightsMeta, parts: Vec<(String, Vec<u8>)>) -> Self {
        Self {
            config,
            meta,
            source_name: "(in memory)".into(),
            parts,
        }
    }

    /// Serialises the file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = Header {
            config: self.config.clone(),
            meta: self.meta.clone(),
            parts: self
                .parts
                .iter()
                .map(|(name, bytes)| PartHeader {
                    name: name.clone(),
                    len: bytes.len(),
                    fnv64: fnv64(bytes),
                })
                .collect(),
        };
        let json = serde_json::to_vec(&header).expect("header serialises");
        let mut out = Vec::with_capacity(
            12 + json.len() + self.parts.iter().map(|p| p.1.len()).sum::<usize>(),
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        for (_, bytes) in &self.parts {
            out.extend_from_slice(bytes);
        }
        out
    }

    /// Parses a file, checking its framing (not yet its tensors: see [`WeightsFile::load`]).
    pub fn parse(bytes: &[u8], source_name: &str) -> Result<Self> {
        let fail = |reason: String| Error::WeightsFormat {
            source_name: source_name.to_string(),
            reason,
        };
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(fail(
                "it does not start with the latentpad signature".into(),
            ));
        }
        let header_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        if header_len > MAX_HEADER {
            return Err(fail(format!(
                "its header would be {header_len} bytes, more than the {MAX_HEADER} a weights \
                 file may have (damaged?)"
            )));
        }
        if 12 + header_len > bytes.len() {
            return Err(fail("the header is truncated or damaged".into()));
        }
        let header: Header = serde_json::from_slice(&bytes[12..12 + header_len])
            .map_err(|e| fail(format!("the header is damaged: {e}")))?;
        let mut offset = 12 + header_len;
        let mut parts = Vec::new();
        for part in header.parts {
            let end = offset
                .checked_add(part.len)
                .filter(|end| *end <= bytes.len())
                .ok_or_else(|| fail(format!("part {:?} is truncated", part.name)))?;
            let data = &bytes[offset..end];
            if fnv64(data) != part.fnv64 {
                return Err(fail(format!(
                    "part {:?} is damaged (checksum mismatch)",
                    part.name
                )));
            }
            parts.push((part.name, data.to_vec()));
            offset = end;
        }
        if offset != bytes.len() {
            return Err(fail(format!(
                "{} unexpected trailing bytes",
                bytes.len() - offset
            )));
        }
        Ok(Self {
            config: header.config,
            meta: header.meta,
            source_name: source_name.to_string(),
            parts,
        })
    }

    /// Fails unless the file holds `expected`'s architecture.
    pub fn expect_config(&self, expected: &ModelConfig) -> Result<()> {
        if &self.config != expected {
            return Err(Error::WrongArchitecture {
                source_name: self.source_name.clone(),
                expected: expected.describe(),
                found: self.config.describe(),
            });
        }
        Ok(())
    }

    /// Names of the parts present.
    pub fn part_names(&self) -> Vec<&str> {
        self.parts.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Whether a part is present.
    pub fn has(&self, name: &str) -> bool {
        self.parts.iter().any(|(n, _)| n == name)
    }

    /// Replaces part `name`'s bytes (see [`module_to_bytes`]); the part must be there.
    pub fn replace_part(&mut self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let names = format!("{:?}", self.part_names());
        let Some((_, old)) = self.parts.iter_mut().find(|(n, _)| n == name) else {
            return Err(Error::WeightsFormat {
                source_name: self.source_name.clone(),
                reason: format!("it has no {name:?} part to replace (has {names})"),
            });
        };
        *old = bytes;
        Ok(())
    }

    /// Loads part `name` into `module` (freshly initialised with the file's config), casting
    /// the stored half-precision values to the module's dtype.
    pub fn load<M: Module>(&self, name: &str, module: M) -> Result<M> {
        let fail = |reason: String| Error::WeightsFormat {
            source_name: self.source_name.clone(),
            reason,
        };
        let (_, bytes) = self.parts.iter().find(|(n, _)| n == name).ok_or_else(|| {
            fail(format!(
                "it has no {name:?} part (has {:?})",
                self.part_names()
            ))
        })?;
        // Damaged bytes were refused by `parse` (checksums), so what reaches burnpack's
        // reader was written by `to_bytes`; a mismatch left is a wrong shape, reported here.
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.clone()))
            .map_err(|e| fail(format!("part {name:?}: {e}")))?;
        module
            .try_load_record(record.cast_to_module_dtype())
            .map_err(|e| fail(format!("part {name:?} does not fit: {e}")))
    }
}

impl WeightsFile {
    /// One file per part, named `<part>.lpw`: a page that only samples fetches only the
    /// generator, while fine-tuning also fetches the discriminator.
    pub fn split(&self) -> Vec<(String, WeightsFile)> {
        self.parts
            .iter()
            .map(|(name, bytes)| {
                let file = WeightsFile::new(
                    self.config.clone(),
                    self.meta.clone(),
                    vec![(name.clone(), bytes.clone())],
                );
                (format!("{name}.lpw"), file)
            })
            .collect()
    }

    /// Joins files of one model into one (the inverse of [`WeightsFile::split`]).
    pub fn merge(files: Vec<WeightsFile>) -> Result<WeightsFile> {
        let mut files = files.into_iter();
        let mut merged = files.next().ok_or_else(|| Error::WeightsFormat {
            source_name: "(none)".into(),
            reason: "no weights files were given".into(),
        })?;
        for file in files {
            file.expect_config(&merged.config)?;
            for (name, bytes) in file.parts {
                if merged.has(&name) {
                    return Err(Error::WeightsFormat {
                        source_name: file.source_name.clone(),
                        reason: format!("part {name:?} appears twice"),
                    });
                }
                merged.parts.push((name, bytes));
            }
        }
        Ok(merged)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod files {
    //! Model folders on disk: `config.json` for people and one `<part>.lpw` per part.

    use std::path::Path;

    use super::*;

    impl WeightsFile {
        /// Reads every `*.lpw` file of a model folder, or one file, into one weights file.
        pub fn read(path: &Path) -> Result<WeightsFile> {
            let mut paths = if path.is_dir() {
                std::fs::read_dir(path)
                    .map_err(|e| Error::io(path, e))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "lpw"))
                    .collect()
            } else {
                vec![path.to_path_buf()]
            };
            paths.sort();
            if paths.is_empty() {
                return Err(Error::WeightsFormat {
                    source_name: path.display().to_string(),
                    reason: "the folder has no .lpw weights files".into(),
                });
            }
            let files = paths
                .iter()
                .map(|p| {
                    let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
                    WeightsFile::parse(&bytes, &p.display().to_string())
                })
                .collect::<Result<Vec<_>>>()?;
            WeightsFile::merge(files)
        }

        /// Writes a model folder: `config.json` and one `<part>.lpw` per part.
        pub fn write_dir(&self, dir: &Path) -> Result<()> {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            let config = dir.join("config.json");
            let json = serde_json::to_string_pretty(&self.config).expect("config serialises");
            std::fs::write(&config, json + "\n").map_err(|e| Error::io(&config, e))?;
            for (name, file) in self.split() {
                let path = dir.join(name);
                std::fs::write(&path, file.to_bytes()).map_err(|e| Error::io(&path, e))?;
            }
            Ok(())
        }
    }
}

/// The software string written into files.
pub fn software() -> String {
    format!("latentpad {}", env!("CARGO_PKG_VERSION"))
}
