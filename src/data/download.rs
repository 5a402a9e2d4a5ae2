//! Getting one file's bytes from one mirror (an http(s) base URL or a local
//! directory), with progress display: into memory (the small IDX files) or
//! into a `.part` file that a later run resumes with an HTTP `Range` request.
//! No verification here.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::error::one_line;
use super::idx::gz_path;

/// Refuse bodies larger than this (the largest canonical file, raw, is ~47 MB).
const MAX_BYTES: u64 = 256 << 20;

/// How to report progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Say nothing.
    Off,
    /// One plain line per event on stderr (stderr is not a terminal).
    Lines,
    /// An indicatif bar on stderr (a terminal).
    Bar,
}

impl Progress {
    pub(crate) fn new(enabled: bool) -> Self {
        match (enabled, std::io::stderr().is_terminal()) {
            (false, _) => Progress::Off,
            (true, false) => Progress::Lines,
            (true, true) => Progress::Bar,
        }
    }

    /// A one-line status message.
    pub(crate) fn note(self, msg: &str) {
        if self != Progress::Off {
            eprintln!("{msg}");
        }
    }

    /// Like [`Progress::note`], but only when no bar is shown.
    pub(crate) fn note_lines(self, msg: &str) {
        if self == Progress::Lines {
            eprintln!("{msg}");
        }
    }
}

/// The outcome of asking one mirror for one file.
#[derive(Debug)]
pub(crate) struct Attempt {
    /// The URL or path asked.
    pub location: String,
    pub result: Result<Vec<u8>, String>,
}

/// Ask `mirror` for `name.gz`. A mirror without `://` (or with `file://`) is a
/// local directory, where `name.gz` and then `name` are looked for.
pub(crate) fn get(mirror: &str, name: &str, progress: Progress) -> Attempt {
    match local_dir(mirror) {
        Some(dir) => get_local(dir, name),
        None => get_http(mirror, name, progress),
    }
}

/// The local directory a mirror names (no `://`, or `file://`), if it is one.
pub(crate) fn local_dir(mirror: &str) -> Option<PathBuf> {
    match mirror.strip_prefix("file://") {
        Some(path) => Some(PathBuf::from(path)),
        None if !mirror.contains("://") => Some(PathBuf::from(mirror)),
        None => None,
    }
}

fn get_local(dir: PathBuf, name: &str) -> Attempt {
    let raw = dir.join(name);
    let gz = gz_path(&raw);
    let path = if gz.is_file() || !raw.is_file() {
        gz
    } else {
        raw
    };
    Attempt {
        location: path.display().to_string(),
        result: std::fs::read(&path).map_err(one_line),
    }
}

fn get_http(base: &str, name: &str, progress: Progress) -> Attempt {
    let sep = if base.ends_with('/') { "" } else { "/" };
    let url = format!("{base}{sep}{name}.gz");
    let result = download(&url, progress);
    Attempt {
        location: url,
        result,
    }
}

/// `base` and `name` joined with one `/`.
pub(crate) fn join_url(base: &str, name: &str) -> String {
    let sep = if base.ends_with('/') { "" } else { "/" };
    format!("{base}{sep}{name}")
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(20))
        .timeout_read(Duration::from_secs(60))
        .build()
}

fn download(url: &str, progress: Progress) -> Result<Vec<u8>, String> {
    let response = agent().get(url).call().map_err(|e| describe(url, e))?;
    let total = response
        .header("Content-Length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let bar = match progress {
        Progress::Bar => bar(url, total),
        Progress::Off | Progress::Lines => ProgressBar::hidden(),
    };
    progress.note_lines(&format!("downloading {url}"));
    let mut bytes = Vec::with_capacity(total.unwrap_or(0).min(MAX_BYTES) as usize);
    let read = bar
        .wrap_read(response.into_reader().take(MAX_BYTES + 1))
        .read_to_end(&mut bytes);
    bar.finish_and_clear();
    read.map_err(|e| format!("download interrupted: {}", one_line(e)))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(format!("response larger than {MAX_BYTES} bytes"));
    }
    if let Some(n) = total.filter(|&n| n != bytes.len() as u64) {
        return Err(format!("got {} of {n} bytes", bytes.len()));
    }
    Ok(bytes)
}

/// What [`download_resumable`] transferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transfer {
    /// Bytes received in this call.
    pub bytes: u64,
    /// Bytes of `.part` that were kept and continued from (0: a fresh start).
    pub resumed_from: u64,
}

/// Download `url`, which must be `len` bytes long, into `part`. A `part` left
/// by an earlier attempt is continued with `Range: bytes=N-` when the server
/// answers 206 with the matching `Content-Range`, and started over when it
/// answers 200 (no range support) or 416; a `part` already `len` bytes long is
/// left for the caller to verify without a request. On an interrupted transfer
/// what arrived stays in `part` for the next run.
pub(crate) fn download_resumable(
    url: &str,
    part: &Path,
    len: u64,
    progress: Progress,
) -> Result<Transfer, String> {
    let mut have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if have == len {
        progress.note_lines(&format!("{}: complete, verifying", part.display()));
        return Ok(Transfer {
            bytes: 0,
            resumed_from: have,
        });
    }
    if have > len {
        remove(part)?;
        have = 0;
    }
    let mut request = agent().get(url);
    if have > 0 {
        request = request.set("Range", &format!("bytes={have}-"));
    }
    let response = match request.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(416, _)) if have > 0 => {
            progress.note(&format!(
                "{url}: cannot resume at byte {have} (HTTP 416); starting over"
            ));
            remove(part)?;
            return download_resumable(url, part, len, progress);
        }
        Err(e) => return Err(describe(url, e)),
    };
    let start = if response.status() == 206 {
        let range = response
            .header("Content-Range")
            .ok_or("HTTP 206 without a Content-Range header")?;
        let (first, total) = parse_content_range(range)
            .ok_or_else(|| format!("unreadable Content-Range `{range}`"))?;
        if first != have {
            return Err(format!(
                "asked to resume at byte {have}, the server sent from byte {first}"
            ));
        }
        if let Some(t) = total.filter(|&t| t != len) {
            return Err(format!(
                "the server's file is {t} bytes, expected {len} (wrong or changed file)"
            ));
        }
        have
    } else {
        let total = response
            .header("Content-Length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(t) = total.filter(|&t| t != len) {
            return Err(format!(
                "the server's file is {t} bytes, expected {len} (wrong or changed file)"
            ));
        }
        if have > 0 {
            progress.note(&format!(
                "{url}: the server does not resume downloads; starting over"
            ));
        }
        0
    };
    let file = if start > 0 {
        OpenOptions::new().append(true).open(part)
    } else {
        File::create(part)
    }
    .map_err(|e| format!("cannot write {}: {}", part.display(), one_line(e)))?;
    let bar = match progress {
        Progress::Bar => {
            let b = bar(url, Some(len));
            b.set_position(start);
            b
        }
        Progress::Off | Progress::Lines => ProgressBar::hidden(),
    };
    progress.note_lines(&if start > 0 {
        format!("downloading {url} (resuming at byte {start})")
    } else {
        format!("downloading {url}")
    });
    let remaining = len - start;
    let mut reader = response.into_reader();
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0u64;
    let outcome = loop {
        match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                let keep = (n as u64).min(remaining - got) as usize;
                if let Err(e) = writer.write_all(&buf[..keep]) {
                    break Err(format!("cannot write {}: {}", part.display(), one_line(e)));
                }
                got += keep as u64;
                bar.inc(keep as u64);
                if keep < n {
                    break Err(format!(
                        "the server sent more than {len} bytes (wrong file)"
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(format!("download interrupted: {}", one_line(e))),
        }
    };
    bar.finish_and_clear();
    let flushed = writer
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot write {}: {}", part.display(), one_line(e)));
    let kept = start + got;
    outcome
        .and(flushed)
        .and_then(|()| {
            if got < remaining {
                Err("the transfer ended early".to_string())
            } else {
                Ok(())
            }
        })
        .map_err(|why| {
            format!(
                "{why}; {kept} of {len} bytes kept in {}: rerun to resume",
                part.display()
            )
        })?;
    Ok(Transfer {
        bytes: got,
        resumed_from: start,
    })
}

fn remove(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {}", path.display(), one_line(e))),
    }
}

/// `bytes FIRST-LAST/TOTAL` (TOTAL may be `*`) → (FIRST, TOTAL).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = rest.split_once('/')?;
    let (first, _) = span.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((first.trim().parse().ok()?, total))
}

fn bar(url: &str, total: Option<u64>) -> ProgressBar {
    let name = url.rsplit('/').next().unwrap_or(url).to_string();
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let style = ProgressStyle::with_template(
        "{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(name);
    bar
}

/// One line saying why a request failed.
fn describe(url: &str, err: ureq::Error) -> String {
    match err {
        ureq::Error::Status(code, _) => format!("HTTP status {code}"),
        ureq::Error::Transport(t) => {
            let mut msg = t.kind().to_string();
            if let Some(m) = t.message() {
                msg = format!("{msg}: {m}");
            }
            if let Some(src) = std::error::Error::source(&t) {
                msg = format!("{msg}: {src}");
            }
            if url.starts_with("https://") && t.kind() == ureq::ErrorKind::UnknownScheme {
                msg.push_str(" (this build has no TLS support: enable the `tls` feature of ureq)");
            }
            one_line(msg)
        }
    }
}
