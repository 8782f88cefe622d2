//! Weights files: a small self-describing container holding the architecture (`ModelConfig`),
//! provenance metadata, and one or more named burnpack records stored in half precision.
//!
//! Layout: the 8 magic bytes `LPADW\x01\r\n`, a little-endian `u32` header length, the JSON
//! header, then the config's long number arrays (a VAE prior's centres and bases: in binary, a
//! third of their size as text, see [`LIFT_AT`]), then each part's bytes, both in header
//! order. Files written before the arrays moved (text in the header) still read. The magic
//! catches a wrong file early, the embedded config catches weights for another architecture,
//! burn's record validation catches anything that still does not fit, and everything works
//! from bytes (the browser has no file system).

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, FloatDType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::read_f32;
use crate::model::{ModelConfig, params};
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"LPADW\x01\r\n";
/// Refuse headers larger than this. Most are a few kilobytes; files written before the long
/// arrays moved out of the header held a VAE's prior there as text, 2.1 MB for the grid VAE.
const MAX_HEADER: usize = 16 << 20;
/// A config's arrays of at least this many numbers are written after the header in binary,
/// not in its JSON: a grid VAE's prior holds 330,000 numbers, 2.1 MB as text.
const LIFT_AT: usize = 1024;
/// The layout of the header this build writes and the newest it reads. Files from before the
/// field existed have none and are format 1. A build that changes the layout so that older
/// builds would misread it raises this, and older builds then refuse the file by name
/// instead of as damaged.
const FORMAT: u32 = 1;

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
    /// The header's layout (`FORMAT`); absent, 1.
    #[serde(default = "format_1")]
    format: u32,
    /// The `ModelConfig`, less its long arrays (`arrays`).
    config: Value,
    meta: WeightsMeta,
    parts: Vec<PartHeader>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    arrays: Vec<ArrayHeader>,
}

fn format_1() -> u32 {
    1
}

/// An array of the config stored after the header.
#[derive(Debug, Serialize, Deserialize)]
struct ArrayHeader {
    /// The object keys that lead to it in the config (`["prior", "centres"]`).
    path: Vec<String>,
    /// How many numbers.
    len: usize,
    encoding: Encoding,
    fnv64: String,
}

/// How an array's numbers are stored, little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Encoding {
    /// `i16` thousandths: exact for numbers kept to 3 decimals below 32.8, as a prior's are.
    MilliI16,
    /// `f32`: any other single-precision numbers.
    F32,
}

impl Encoding {
    fn width(self) -> usize {
        match self {
            Encoding::MilliI16 => 2,
            Encoding::F32 => 4,
        }
    }
}

/// The numbers of `value` if it is an array of at least [`LIFT_AT`] single-precision numbers.
fn liftable(value: &Value) -> Option<Vec<f32>> {
    let items = value.as_array().filter(|a| a.len() >= LIFT_AT)?;
    items
        .iter()
        .map(|v| {
            let x = v.as_f64()?;
            (x as f32 as f64 == x).then_some(x as f32)
        })
        .collect()
}

/// Takes every long array of numbers out of `config`'s objects, in key order, with its path.
fn lift(config: &mut Value) -> Vec<(Vec<String>, Vec<f32>)> {
    fn walk(value: &mut Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Vec<f32>)>) {
        let Value::Object(map) = value else { return };
        let mut lifted = Vec::new();
        for (key, item) in map.iter_mut() {
            path.push(key.clone());
            match liftable(item) {
                Some(numbers) => {
                    out.push((path.clone(), numbers));
                    lifted.push(key.clone());
                }
                None => walk(item, path, out),
            }
            path.pop();
        }
        for key in lifted {
            map.remove(&key);
        }
    }
    let mut out = Vec::new();
    walk(config, &mut Vec::new(), &mut out);
    out
}

/// Puts `value` at `path` in `config`; `None` if no object is there to hold it.
fn put(config: &mut Value, path: &[String], value: Value) -> Option<()> {
    let (last, parents) = path.split_last()?;
    let mut at = config;
    for key in parents {
        at = at.get_mut(key)?;
    }
    at.as_object_mut()?.insert(last.clone(), value);
    Some(())
}

/// `numbers` in the smallest encoding that gives them back (a negative zero comes back as 0).
fn encode(numbers: &[f32]) -> (Encoding, Vec<u8>) {
    let milli: Option<Vec<i16>> = numbers
        .iter()
        .map(|&x| {
            let m = (x as f64 * 1000.0).round();
            (m.abs() <= i16::MAX as f64 && (m / 1000.0) as f32 == x).then_some(m as i16)
        })
        .collect();
    match milli {
        Some(milli) => (
            Encoding::MilliI16,
            milli.iter().flat_map(|m| m.to_le_bytes()).collect(),
        ),
        None => (
            Encoding::F32,
            numbers.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
    }
}

/// The JSON numbers stored in `bytes` (whole numbers as integers, so they fit integer fields).
fn decode(encoding: Encoding, bytes: &[u8]) -> Value {
    let number = |x: f32| {
        if x.fract() == 0.0 && x.abs() < 1e15 {
            Value::from(x as i64)
        } else {
            Value::from(x as f64)
        }
    };
    let numbers = match encoding {
        Encoding::MilliI16 => bytes
            .chunks_exact(2)
            .map(|b| number((i16::from_le_bytes([b[0], b[1]]) as f64 / 1000.0) as f32))
            .collect(),
        Encoding::F32 => bytes
            .chunks_exact(4)
            .map(|b| number(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
    };
    Value::Array(numbers)
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
        let mut config = serde_json::to_value(&self.config).expect("config serialises");
        let arrays: Vec<_> = lift(&mut config)
            .into_iter()
            .map(|(path, numbers)| (path, numbers.len(), encode(&numbers)))
            .collect();
        let header = Header {
            format: FORMAT,
            config,
            arrays: arrays
                .iter()
                .map(|(path, len, (encoding, bytes))| ArrayHeader {
                    path: path.clone(),
                    len: *len,
                    encoding: *encoding,
                    fnv64: fnv64(bytes),
                })
                .collect(),
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
            12 + json.len()
                + arrays.iter().map(|a| a.2.1.len()).sum::<usize>()
                + self.parts.iter().map(|p| p.1.len()).sum::<usize>(),
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        for (_, _, (_, bytes)) in &arrays {
            out.extend_from_slice(bytes);
        }
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
        let json = &bytes[12..12 + header_len];
        // A newer format is refused by name whether or not its header parses as this one's;
        // the format alone is read again only when the whole header does not parse.
        #[derive(Deserialize)]
        struct Format {
            #[serde(default = "format_1")]
            format: u32,
        }
        let parsed = serde_json::from_slice::<Header>(json);
        let format = match &parsed {
            Ok(header) => Some(header.format),
            Err(_) => serde_json::from_slice::<Format>(json)
                .ok()
                .map(|f| f.format),
        };
        if let Some(format) = format.filter(|f| *f > FORMAT) {
            return Err(fail(format!(
                "it was written by a newer latentpad (weights format {format}; this one reads \
                 formats up to {FORMAT}): update latentpad, or use weights this version made"
            )));
        }
        let header = parsed.map_err(|e| fail(format!("the header is damaged: {e}")))?;
        let mut offset = 12 + header_len;
        // The next `len` bytes, checked against `checksum`; `what` names them in messages.
        let mut take = |len: Option<usize>, checksum: &str, what: &str| {
            let end = len
                .and_then(|len| offset.checked_add(len))
                .filter(|end| *end <= bytes.len())
                .ok_or_else(|| fail(format!("{what} is truncated")))?;
            let data = &bytes[offset..end];
            if fnv64(data) != checksum {
                return Err(fail(format!("{what} is damaged (checksum mismatch)")));
            }
            offset = end;
            Ok(data)
        };
        let mut config = header.config;
        for array in &header.arrays {
            let what = format!("array {:?}", array.path.join("."));
            let data = take(
                array.len.checked_mul(array.encoding.width()),
                &array.fnv64,
                &what,
            )?;
            put(&mut config, &array.path, decode(array.encoding, data))
                .ok_or_else(|| fail(format!("{what} has no place in the config")))?;
        }
        let mut parts = Vec::new();
        for part in header.parts {
            let data = take(
                Some(part.len),
                &part.fnv64,
                &format!("part {:?}", part.name),
            )?;
            parts.push((part.name, data.to_vec()));
        }
        let config: ModelConfig = serde_json::from_value(config)
            .map_err(|e| fail(format!("the header is damaged: {e}")))?;
        if offset != bytes.len() {
            return Err(fail(format!(
                "{} unexpected trailing bytes",
                bytes.len() - offset
            )));
        }
        Ok(Self {
            config,
            meta: header.meta,
            source_name: source_name.to_string(),
            parts,
        })
    }

    /// The config as a model folder's `config.json` shows it: each long array (a prior's
    /// centres) named by its length, kept in the `.lpw` files, so that the file stays a few
    /// kilobytes for people and for the page, which reads it for the model's kind.
    pub fn config_for_people(&self) -> Value {
        let mut config = serde_json::to_value(&self.config).expect("config serialises");
        for (path, numbers) in lift(&mut config) {
            let note = format!("{} numbers, in the .lpw files", numbers.len());
            put(&mut config, &path, note.into()).expect("lifted from there");
        }
        config
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

    /// Sets part `name`'s bytes, adding the part when the file has none of that name.
    pub fn set_part(&mut self, name: &str, bytes: Vec<u8>) {
        match self.parts.iter_mut().find(|(n, _)| n == name) {
            Some((_, old)) => *old = bytes,
            None => self.parts.push((name.to_string(), bytes)),
        }
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
    //! Model folders on disk: `config.json` for people (and the page: its `kind`) and one
    //! `<part>.lpw` per part.

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
            let json =
                serde_json::to_string_pretty(&self.config_for_people()).expect("config serialises");
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
