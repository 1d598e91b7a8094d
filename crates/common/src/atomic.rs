//! Writing a file so that readers never see it half-written, on a local disk or on a
//! filesystem shared by many machines (a cluster's cache), and cleaning what killed writers
//! leave behind.
//!
//! Every write goes to a temporary file in the destination folder named
//! `.<name>.<host>.<pid>.<n>.tmp` (the machine's host name, the process id and a per-process
//! call counter), so no two writers (threads, processes, machines sharing the folder) ever
//! share a temporary, and the temporary is then renamed ([`write_atomic`]) or linked
//! ([`write_new`]) into place.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Calls that created a temporary name in this process so far: part of every temporary name,
/// so that threads writing the same file never share a temporary.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// A temporary whose writer cannot be checked (another machine's, or where `/proc` is missing)
/// is an orphan once it is this old. Writing one cache or output file takes milliseconds.
pub const ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// Writes `bytes` to `path` atomically: to a temporary file in the same folder whose name is
/// unique per machine, process and call, then renamed over `path` (the last writer wins). On
/// any failure (a full disk, a missing folder) the temporary is removed and `path` keeps its
/// old content. A killed process can leave a temporary behind ([`clean_orphans`] removes it),
/// never a truncated `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temporary(path);
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` only if `path` does not exist yet (the first writer wins): a
/// temporary as in [`write_atomic`], then a hard link to `path`, which fails atomically when
/// `path` exists, also on NFS. Returns whether this call created `path`; `false` leaves the
/// existing file untouched. On a filesystem without hard links it falls back to
/// [`write_atomic`] (the last writer wins) and returns `true`.
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    let tmp = temporary(path);
    let result = std::fs::write(&tmp, bytes).and_then(|()| match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) if links_unsupported(&e) => std::fs::rename(&tmp, path).map(|()| true),
        Err(e) => Err(e),
    });
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Whether a failed `link` means the filesystem has no hard links (rather than a real error).
fn links_unsupported(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
    ) || e.raw_os_error() == Some(95) // EOPNOTSUPP on Linux
}

/// Removes the orphan temporaries of [`write_atomic`] and [`write_new`] in `dir`: those this
/// machine's processes left and that no living process owns any more, and those of any
/// machine older than `max_age` ([`ORPHAN_AGE`] in practice). A temporary a living writer
/// still owns is kept. Returns the files removed; a missing `dir` has none.
pub fn clean_orphans(dir: &Path, max_age: Duration) -> io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((host, pid)) = writer_of(&name) else {
            continue;
        };
        let dead = host == this_host() && !process_alive(pid).unwrap_or(true);
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > max_age);
        if (dead || old) && std::fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed.sort();
    Ok(removed)
}

/// The temporary name of one write of `path`: `.<name>.<host>.<pid>.<n>.tmp` beside it.
fn temporary(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(
        ".{name}.{}.{}.{call}.tmp",
        this_host(),
        std::process::id()
    ))
}

/// The host and process id of a temporary's name, or `None` if `name` is not a temporary.
fn writer_of(name: &str) -> Option<(&str, u32)> {
    let stem = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut parts = stem.rsplitn(4, '.');
    let (_call, pid, host, file) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if file.is_empty() {
        return None;
    }
    Some((host, pid.parse().ok()?))
}

/// This machine's host name with every character other than ASCII letters, digits and `-`
/// replaced by `_` (so it never contains the `.` that separates the parts of a temporary's
/// name), or `host` if it cannot be read.
fn this_host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default();
        let host: String = raw
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if host.is_empty() { "host".into() } else { host }
    })
}

/// Whether process `pid` of this machine is alive (a zombie counts as exited); `None` where
/// `/proc` cannot tell.
fn process_alive(pid: u32) -> Option<bool> {
    if !Path::new("/proc/self").exists() {
        return None;
    }
    Some(match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["a.csv"]);
    }

    #[test]
    fn write_new_keeps_the_first_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("setup.json");
        assert!(write_new(&path, b"first").unwrap());
        assert!(!write_new(&path, b"second").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(names(dir.path()), ["setup.json"]);
        assert!(write_new(&dir.path().join("none/a"), b"x").is_err());
    }

    #[test]
    fn a_failed_rename_keeps_the_old_file_and_removes_the_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty folder in the way: the write succeeds, the rename fails.
        let path = dir.path().join("busy");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"x").unwrap();
        assert!(write_atomic(&path, b"new").is_err());
        assert_eq!(names(dir.path()), ["busy"]);
        // A missing folder: nothing is written anywhere.
        assert!(write_atomic(&dir.path().join("none/a.csv"), b"x").is_err());
        assert_eq!(names(dir.path()), ["busy"]);
    }

    #[test]
    fn temporary_names_differ_per_call_and_name_their_writer() {
        let path = Path::new("/x/figure.v2.png");
        let (a, b) = (temporary(path), temporary(path));
        assert_ne!(a, b);
        assert_eq!(a.parent(), path.parent());
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".figure.v2.png.") && name.ends_with(".tmp"),
            "{name}"
        );
        assert_eq!(writer_of(&name), Some((this_host(), std::process::id())));
        assert!(!this_host().contains('.'), "{}", this_host());
        for not_ours in [
            "figure.png",
            ".hidden",
            ".a.tmp",
            ".x.host.12.tmp",
            ".a.b.c.d.tmp",
        ] {
            assert_eq!(writer_of(not_ours), None, "{not_ours}");
        }
    }

    /// The orphans of a dead process of this machine and old temporaries of any machine go;
    /// a living writer's temporary, a young one of another machine and other files stay.
    #[test]
    fn orphans_are_removed_and_live_temporaries_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let host = this_host();
        let me = std::process::id();
        let files = [
            format!(".cell_00001.json.{host}.{dead}.0.tmp"),
            format!(".cell_00002.json.{host}.{me}.7.tmp"),
            ".cell_00003.json.othermachine.1.0.tmp".to_string(),
            ".cell_00004.json.othermachine.2.0.tmp".to_string(),
            "cell_00005.json".to_string(),
        ];
        for name in &files {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let old = SystemTime::now() - 2 * ORPHAN_AGE;
        std::fs::File::options()
            .write(true)
            .open(dir.path().join(&files[3]))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let removed = clean_orphans(dir.path(), ORPHAN_AGE).unwrap();
        assert_eq!(
            removed,
            [dir.path().join(&files[0]), dir.path().join(&files[3])]
        );
        let mut kept = vec![files[1].clone(), files[2].clone(), files[4].clone()];
        kept.sort();
        assert_eq!(names(dir.path()), kept);
        assert!(
            clean_orphans(&dir.path().join("none"), ORPHAN_AGE)
                .unwrap()
                .is_empty()
        );
    }
}
