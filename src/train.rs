//! `frontier train`: generate the data, pre-train the model, write the run directory
//! (`data.safetensors`, `weights.safetensors`, `summary.json`, `config.resolved.toml`, and
//! `manifest.json` last), as a whole: see [`write_run`] and [`check_run`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use burn::tensor::Device;
use frontier_model::{Dataset, DeviceData, Precision, TrainReport};
use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;
use crate::memory::Estimate;
use crate::models::{ModelConfig, Net};
use crate::output::{create_dir, write_atomic};
use crate::tensors::{self, HostTensor};

/// The files of a run directory, the manifest last.
pub const RUN_FILES: [&str; 5] = [
    "data.safetensors",
    "weights.safetensors",
    "summary.json",
    "config.resolved.toml",
    MANIFEST,
];

/// The manifest: written last, lists every other file with its size and checksum.
pub const MANIFEST: &str = "manifest.json";

/// Bytes `frontier train` holds at its peak for `cfg` (see the README, "Memory"): the data on
/// the host (f64) and on the device, the copies made to write it, and the per-sample
/// gradients [n, p] of the training report.
pub fn estimate(cfg: &ExperimentConfig) -> Estimate {
    let data = &cfg.data;
    let s = match cfg.dtype {
        Precision::F32 => 4.0,
        Precision::F64 => 8.0,
    };
    let (patches, d) = (data.patches as f64, data.d as f64);
    let (params, units) = match &cfg.model {
        ModelConfig::Cnn(c) => (2.0 * c.m as f64 * d, 2.0 * c.m as f64 * patches),
        ModelConfig::Mlp(c) => (c.hidden as f64 * (patches * d + 2.0), c.hidden as f64),
    };
    let samples = (data.n + data.n_test) as f64;
    let values = samples * patches * d;
    let fields = format!(
        "(data.n + data.n_test) × data.patches × data.d = {} × {} × {}",
        samples, data.patches, data.d
    );
    Estimate::new("frontier train")
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
            format!(
                "per-sample gradients [n, p], data.n = {}, p = {params}",
                data.n
            ),
            3.0,
            data.n as f64 * params,
            s,
        )
        .arrays(
            "activations [n, units] of pre-training",
            4.0,
            data.n as f64 * units,
            s,
        )
        .arrays("parameters and their gradients", 4.0, params, s)
}

/// A pre-trained model with the data it saw.
pub struct Trained {
    /// The data set, on the host.
    pub data: Dataset,
    /// The model at w*.
    pub net: Net,
    /// The pre-training report.
    pub report: TrainReport,
    /// Wall time of pre-training, seconds.
    pub seconds: f64,
}

/// Generates the data and pre-trains the model of `cfg` on `device`.
pub fn train(cfg: &ExperimentConfig, device: &Device) -> Result<Trained> {
    let data = Dataset::generate(&cfg.data)?;
    let on_device = DeviceData::new(&data, device, cfg.dtype);
    let mut net = cfg.model.init(&cfg.data, device, cfg.dtype)?;
    let start = Instant::now();
    let report = net.pretrain(&on_device, &cfg.train)?;
    Ok(Trained {
        data,
        net,
        report,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// `summary.json`: the training report and the sizes of the run.
#[derive(Serialize)]
struct Summary<'a> {
    n: usize,
    n_forget: usize,
    n_test: usize,
    d: usize,
    patches: usize,
    params: usize,
    snr: f64,
    loss: &'static str,
    eta: f64,
    dtype: &'a str,
    seconds: f64,
    #[serde(flatten)]
    train: &'a TrainReport,
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
    let data = &t.data;
    let (n, p, d) = (data.n(), data.patches, data.d);
    let forget = data.forget.iter().map(|&f| f as u8 as f64).collect();
    tensors::write(
        &dir.join("data.safetensors"),
        &[
            HostTensor::new("x", vec![n, p, d], data.x.clone()),
            HostTensor::new("y", vec![n], data.y.clone()),
            HostTensor::new("forget", vec![n], forget),
            HostTensor::new("x_test", vec![data.n_test(), p, d], data.x_test.clone()),
            HostTensor::new("y_test", vec![data.n_test()], data.y_test.clone()),
        ],
        cfg.dtype,
    )?;
    let (weights, metadata) = t.net.weights();
    tensors::write_with_metadata(
        &dir.join("weights.safetensors"),
        &weights,
        cfg.dtype,
        metadata,
    )?;
    let summary = Summary {
        n,
        n_forget: data.forget.iter().filter(|&&f| f).count(),
        n_test: data.n_test(),
        d,
        patches: p,
        params: t.net.param_count(),
        snr: cfg.data.snr,
        loss: cfg.train.loss.name(),
        eta: cfg.train.eta,
        dtype: match cfg.dtype {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        },
        seconds: t.seconds,
        train: &t.report,
    };
    write_atomic(
        &dir.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    write_atomic(&dir.join("config.resolved.toml"), cfg.to_toml().as_bytes())?;
    let manifest = RUN_FILES[..RUN_FILES.len() - 1]
        .iter()
        .map(|name| Ok((name.to_string(), entry(&dir.join(name))?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    write_atomic(
        &dir.join(MANIFEST),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
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
