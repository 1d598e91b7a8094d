//! `frontier train`: prepare the data (generated, or a data file with its forget kind),
//! pre-train the model, write the run directory (`data.safetensors`, `weights.safetensors`,
//! `forget.json`, `summary.json`, `config.resolved.toml`, and `manifest.json` last), as a
//! whole: see [`write_run`] and [`check_run`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use burn::tensor::Device;
use frontier_model::{
    DataSource, DeviceData, ForgetSet, Model, ModelSpec, Precision, Prepared, TrainReport,
    pretrain, to_f64,
};
use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;
use crate::memory::{Estimate, read_header};
use crate::models::{ModelConfig, Registered, WithModel};
use crate::output::{create_dir, write_atomic};
use crate::tensors::{self, HostTensor};
use crate::weights;

/// The files of a run directory, the manifest last.
pub const RUN_FILES: [&str; 6] = [
    "data.safetensors",
    "weights.safetensors",
    "forget.json",
    "summary.json",
    "config.resolved.toml",
    MANIFEST,
];

/// The manifest: written last, lists every other file with its size and checksum.
pub const MANIFEST: &str = "manifest.json";

/// Bytes `frontier train` holds at its peak for `cfg` (see docs/reference.md, "Memory"): the data on
/// the host (f64) and on the device, the copies made to write it, and the per-sample
/// gradients [n, p] of the training report. A data file's sizes come from its header (read
/// and checked, its data not read); all its rows count as training rows (an upper estimate).
pub fn estimate(cfg: &ExperimentConfig) -> Result<Estimate> {
    let s = match cfg.dtype {
        Precision::F32 => 4.0,
        Precision::F64 => 8.0,
    };
    let (n, n_test, sample, fields) = match &cfg.data {
        DataSource::Synthetic(data) => (
            data.n,
            data.n_test,
            vec![data.patches, data.d],
            format!(
                "(data.n + data.n_test) × data.patches × data.d = {} × {} × {}",
                data.n + data.n_test,
                data.patches,
                data.d
            ),
        ),
        DataSource::File(file) => {
            let header = read_header(&file.path)?;
            let x = header.shape("x").unwrap_or(&[0]);
            let n_test = header.shape("x_test").map_or(0, |t| t[0]);
            (
                x[0],
                n_test,
                x[1..].to_vec(),
                format!("the rows of `x` and `x_test` of {}", file.path.display()),
            )
        }
    };
    let (patches, d) = (
        sample.first().copied().unwrap_or(1) as f64,
        sample.iter().skip(1).product::<usize>() as f64,
    );
    let (params, units) = match &cfg.model {
        ModelConfig::Cnn(c) => (2.0 * c.m as f64 * d, 2.0 * c.m as f64 * patches),
        ModelConfig::Mlp(c) => (c.hidden as f64 * (patches * d + 2.0), c.hidden as f64),
        ModelConfig::Convnet(c) => {
            // Two 3×3 convolutions (each shrinks H and W by 2 − 2·padding), a linear read-out.
            let shrink = |x: usize, k: usize| (x + 2 * k * c.padding).saturating_sub(2 * k) as f64;
            let (a1, a2) = (
                shrink(c.height, 1) * shrink(c.width, 1),
                shrink(c.height, 2) * shrink(c.width, 2),
            );
            let (c1, c2) = (c.conv1 as f64, c.conv2 as f64);
            (
                c1 * (9.0 * patches + 1.0) + c2 * (9.0 * c1 + 1.0) + c2 * a2 + 1.0,
                c1 * a1 + c2 * a2,
            )
        }
    };
    let values = (n + n_test) as f64 * patches * d;
    Ok(Estimate::new("frontier train")
        .arrays(
            format!("inputs on the host, f64, and copies to write them, {fields}"),
            3.0,
            values,
            8.0,
        )
        .arrays(
            format!("inputs on the device and their file encoding, {fields}"),
            3.0,
            values,
            s,
        )
        .arrays(
            format!("per-sample gradients [n, p], n = {n}, p = {params}"),
            3.0,
            n as f64 * params,
            s,
        )
        .arrays(
            "activations [n, units] of pre-training",
            4.0,
            n as f64 * units,
            s,
        )
        .arrays("parameters and their gradients", 4.0, params, s))
}

/// A pre-trained model with the data it saw.
pub struct Trained {
    /// The data set and its forget set.
    pub prepared: Prepared,
    /// The model's config as used (fitted to the data, e.g. the convnet's image size).
    pub model: ModelConfig,
    /// The weights, one tensor per parameter block, and the metadata naming the model.
    pub weights: (Vec<HostTensor>, BTreeMap<String, String>),
    /// Number of parameters p.
    pub params: usize,
    /// The pre-training report.
    pub report: TrainReport,
    /// How the model fits the forget and retain sets at w*.
    pub fit: Fit,
    /// Wall time of pre-training, seconds.
    pub seconds: f64,
}

/// How the model fits the forget and retain sets at w*, on their training labels (flipped
/// ones for a mislabelled forget set); their losses are in the [`TrainReport`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Fit {
    /// Fraction of forget samples with sign(f) = their training label.
    pub forget_train_accuracy: f64,
    /// Fraction of retain samples with sign(f) = their label.
    pub retain_train_accuracy: f64,
}

/// Prepares the data and pre-trains the model of `cfg` on `device`.
pub fn train(cfg: &ExperimentConfig, device: &Device) -> Result<Trained> {
    cfg.model.with(Train { cfg, device })
}

/// [`train`] for one model type.
struct Train<'a> {
    cfg: &'a ExperimentConfig,
    device: &'a Device,
}

impl WithModel for Train<'_> {
    type Output = Result<Trained>;

    fn run<C: ModelSpec>(self, model: Registered<C>) -> Result<Trained> {
        let (cfg, device) = (self.cfg, self.device);
        let prepared = cfg
            .data
            .prepare(&model.config, &cfg.train, device, cfg.dtype)?;
        let spec = prepared.spec(&model.config);
        let input = [prepared.data.patches, prepared.data.d];
        let mut net = spec.init_input(input, device, cfg.dtype)?;
        let on_device = DeviceData::new(&prepared.data, device, cfg.dtype);
        let start = Instant::now();
        let report = pretrain(&mut net, &on_device, &cfg.train)?;
        let seconds = start.elapsed().as_secs_f64();
        let fit = fit(&net, &on_device);
        Ok(Trained {
            model: resolved(model.name, &spec)?,
            weights: (
                weights::tensors(&net),
                weights::metadata(model.name, &spec)?,
            ),
            params: net.param_count(),
            prepared,
            report,
            fit,
            seconds,
        })
    }
}

/// The `[model]` section of a config that `spec` (of model `name`) is.
fn resolved<C: ModelSpec>(name: &str, spec: &C) -> Result<ModelConfig> {
    let mut table = toml::Table::try_from(spec).context("a model config serialises")?;
    table.insert("kind".into(), toml::Value::String(name.into()));
    Ok(ModelConfig::deserialize(toml::Value::Table(table))?)
}

/// [`Fit`] of `net` on the training rows of `data`.
fn fit<M: Model>(net: &M, data: &DeviceData) -> Fit {
    let f = to_f64(net.scores(data.x.clone()));
    let y = to_f64(data.y.clone());
    let accuracy = |forget: bool| {
        let rows: Vec<usize> = (0..y.len()).filter(|&i| data.forget[i] == forget).collect();
        let hits = rows.iter().filter(|&&i| f[i] * y[i] > 0.0).count();
        hits as f64 / rows.len() as f64
    };
    Fit {
        forget_train_accuracy: accuracy(true),
        retain_train_accuracy: accuracy(false),
    }
}

/// `summary.json`: the training report and the sizes of the run.
#[derive(Serialize)]
struct Summary<'a> {
    model: &'a str,
    data: &'static str,
    n: usize,
    n_forget: usize,
    n_test: usize,
    d: usize,
    patches: usize,
    image: Option<[usize; 3]>,
    params: usize,
    snr: Option<f64>,
    forget_kind: &'static str,
    loss: &'static str,
    eta: f64,
    dtype: &'a str,
    seconds: f64,
    #[serde(flatten)]
    train: &'a TrainReport,
    #[serde(flatten)]
    fit: Fit,
}

/// Writes the run directory `out` as a whole: every file goes into a fresh temporary directory
/// beside it (the manifest last), which then replaces `out` in one rename (Linux: an atomic
/// exchange when `out` already holds a run). A failure or a kill leaves the previous run or the
/// new one, never a mix; a temporary directory left by a killed process is removed by the next
/// `write_run` beside it. `out` may be missing, empty, or a run directory; anything else is
/// refused, so that no unrelated file is ever replaced.
pub fn write_run(out: &Path, cfg: &ExperimentConfig, t: &Trained) -> Result<()> {
    check_replaceable(out)?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_dir(&parent)?;
    let name = out
        .file_name()
        .with_context(|| format!("--out {}: expected a folder name", out.display()))?
        .to_string_lossy()
        .into_owned();
    remove_stale_temporaries(&parent, &name);
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)
            .with_context(|| format!("cannot remove {}", tmp.display()))?;
    }
    create_dir(&tmp)?;
    let written = write_files(&tmp, cfg, t).and_then(|()| replace_dir(&tmp, out));
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}

/// Errors unless `out` is missing, an empty folder, or holds only run files.
fn check_replaceable(out: &Path) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    ensure!(
        out.is_dir(),
        "--out {} exists and is not a folder",
        out.display()
    );
    let entries =
        std::fs::read_dir(out).with_context(|| format!("cannot read {}", out.display()))?;
    for entry in entries {
        let name = entry
            .with_context(|| format!("cannot read {}", out.display()))?
            .file_name();
        let name = name.to_string_lossy();
        if !RUN_FILES.contains(&name.as_ref()) && !name.ends_with(".tmp") {
            bail!(
                "--out {} holds `{name}`, which is not part of a run directory: choose a new or \
                 empty folder (a run directory is replaced as a whole)",
                out.display()
            );
        }
    }
    Ok(())
}

/// Removes `.<name>.tmp-<pid>` folders in `parent` whose process no longer runs.
fn remove_stale_temporaries(parent: &Path, name: &str) {
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Moves the complete directory `tmp` to `out`, replacing a previous run there.
fn replace_dir(tmp: &Path, out: &Path) -> Result<()> {
    // rename(2) replaces a missing or empty folder atomically.
    if std::fs::rename(tmp, out).is_ok() {
        return Ok(());
    }
    if exchange(tmp, out).is_ok() {
        // `tmp` now holds the previous run.
        return std::fs::remove_dir_all(tmp)
            .with_context(|| format!("cannot remove the previous run, now in {}", tmp.display()));
    }
    // No atomic exchange on this system or file system: two renames. A kill between them
    // leaves no `out` but a complete run in `tmp` and the previous one in `old`.
    let old = tmp.with_extension("old");
    std::fs::rename(out, &old)
        .with_context(|| format!("cannot move the previous run {} aside", out.display()))?;
    std::fs::rename(tmp, out)
        .with_context(|| format!("cannot move the run into {}", out.display()))?;
    std::fs::remove_dir_all(&old).with_context(|| format!("cannot remove {}", old.display()))
}

/// Swaps two paths atomically (Linux renameat2 with RENAME_EXCHANGE).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    bytes: u64,
    /// FNV-1a (64-bit) of the file's bytes, hex.
    fnv1a64: String,
}

/// FNV-1a, 64-bit: a checksum against mixed or damaged files (not against tampering).
fn fnv1a64(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn entry(path: &Path) -> Result<Entry> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Entry {
        bytes: bytes.len() as u64,
        fnv1a64: fnv1a64(&bytes),
    })
}

/// Errors unless `dir` is a complete run directory: its manifest exists and every file it
/// lists has the size and checksum recorded there.
pub fn check_run(dir: &Path) -> Result<()> {
    ensure!(
        dir.is_dir(),
        "run directory {} does not exist (write one with `frontier train --out`)",
        dir.display()
    );
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        anyhow::anyhow!(
            "{} is not a complete run directory: it has no {MANIFEST} (a run interrupted while \
             written, or written by an older frontier); rerun `frontier train`",
            dir.display()
        )
    })?;
    let manifest: BTreeMap<String, Entry> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid manifest", path.display()))?;
    for name in &RUN_FILES[..RUN_FILES.len() - 1] {
        let expected = manifest
            .get(*name)
            .with_context(|| format!("{} does not list `{name}`", path.display()))?;
        let file = dir.join(name);
        let found = entry(&file)?;
        ensure!(
            &found == expected,
            "{} does not belong to this run: the manifest records {} bytes with checksum {}, \
             the file has {} bytes with checksum {} (mixed or damaged run directory; rerun \
             `frontier train`)",
            file.display(),
            expected.bytes,
            expected.fnv1a64,
            found.bytes,
            found.fnv1a64
        );
    }
    Ok(())
}

/// Writes the files of a run into `dir`, the manifest last.
fn write_files(dir: &Path, cfg: &ExperimentConfig, t: &Trained) -> Result<()> {
    let data = &t.prepared.data;
    let (n, p, d) = (data.n(), data.patches, data.d);
    // Images keep their [C, H, W] shape, so the file reads back as images.
    let sample: Vec<usize> = match t.prepared.image {
        Some(image) => image.to_vec(),
        None => vec![p, d],
    };
    let shape = |rows: usize| [vec![rows], sample.clone()].concat();
    let forget = data.forget.iter().map(|&f| f as u8 as f64).collect();
    tensors::write(
        &dir.join("data.safetensors"),
        &[
            HostTensor::new("x", shape(n), data.x.clone()),
            HostTensor::new("y", vec![n], data.y.clone()),
            HostTensor::new("forget", vec![n], forget),
            HostTensor::new("x_test", shape(data.n_test()), data.x_test.clone()),
            HostTensor::new("y_test", vec![data.n_test()], data.y_test.clone()),
        ],
        cfg.dtype,
    )?;
    let (weights, metadata) = &t.weights;
    tensors::write_with_metadata(
        &dir.join("weights.safetensors"),
        weights,
        cfg.dtype,
        metadata.clone(),
    )?;
    write_atomic(
        &dir.join("forget.json"),
        serde_json::to_string_pretty(&t.prepared.forget)?.as_bytes(),
    )?;
    let summary = Summary {
        model: t.model.kind().name(),
        data: match cfg.data {
            DataSource::Synthetic(_) => "synthetic",
            DataSource::File(_) => "file",
        },
        n,
        n_forget: t.prepared.forget.indices.len(),
        n_test: data.n_test(),
        d,
        patches: p,
        image: t.prepared.image,
        params: t.params,
        snr: match &cfg.data {
            DataSource::Synthetic(c) => Some(c.snr),
            DataSource::File(_) => None,
        },
        forget_kind: t.prepared.forget.kind.name(),
        loss: cfg.train.loss.name(),
        eta: cfg.train.eta,
        dtype: match cfg.dtype {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        },
        seconds: t.seconds,
        train: &t.report,
        fit: t.fit,
    };
    write_atomic(
        &dir.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    let resolved = ExperimentConfig {
        model: t.model.clone(),
        ..cfg.clone()
    };
    write_atomic(
        &dir.join("config.resolved.toml"),
        resolved.to_toml().as_bytes(),
    )?;
    let manifest = RUN_FILES[..RUN_FILES.len() - 1]
        .iter()
        .map(|name| Ok((name.to_string(), entry(&dir.join(name))?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    write_atomic(
        &dir.join(MANIFEST),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )
}

/// The line `frontier train` prints about the forget set.
pub fn forget_line(forget: &ForgetSet, fit: &Fit, report: &TrainReport) -> String {
    format!(
        "forget set: {} ({} samples{}): train accuracy {:.3} on its training labels, loss \
         {:.3e} (retain: {:.3}, {:.3e})",
        forget.kind.name(),
        forget.indices.len(),
        forget
            .class
            .map(|c| format!(", class {c}"))
            .unwrap_or_default(),
        fit.forget_train_accuracy,
        report.forget_loss,
        fit.retain_train_accuracy,
        report.retain_loss
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_its_published_test_vectors() {
        // From the FNV reference (Fowler, Noll, Vo): "" and "a".
        assert_eq!(fnv1a64(b""), "cbf29ce484222325");
        assert_eq!(fnv1a64(b"a"), "af63dc4c8601ec8c");
    }
}
