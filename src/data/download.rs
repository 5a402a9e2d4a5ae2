//! Getting one file from one mirror into a `.part` file, with progress
//! display: from an http(s) base URL (a `.part` left by an earlier attempt is
//! continued with an HTTP `Range` request) or by copying from a local
//! directory. No verification here (see [`super::fetch`]).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::error::one_line;

/// Refuse bodies larger than this when the length is not known beforehand
/// (the largest download of unknown length, MNIST's gzip images, is ~10 MB).
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

/// The local directory a mirror names (no `://`, or `file://`), if it is one.
pub(crate) fn local_dir(mirror: &str) -> Option<PathBuf> {
    match mirror.strip_prefix("file://") {
        Some(path) => Some(PathBuf::from(path)),
        None if !mirror.contains("://") => Some(PathBuf::from(mirror)),
        None => None,
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

/// What [`download_resumable`] transferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transfer {
    /// Bytes received in this call.
    pub bytes: u64,
    /// Bytes of `.part` that were kept and continued from (0: a fresh start).
    pub resumed_from: u64,
}

/// Copy the local file `src` into `part` (replacing what is there) and sync it;
/// on failure nothing is left at `part`.
pub(crate) fn copy_to_part(src: &Path, part: &Path) -> Result<Transfer, String> {
    let mut input = File::open(src).map_err(one_line)?;
    let copied = File::create(part)
        .and_then(|mut out| {
            let n = std::io::copy(&mut input, &mut out)?;
            out.sync_all()?;
            Ok(n)
        })
        .map_err(|e| format!("cannot copy to {}: {}", part.display(), one_line(e)));
    match copied {
        Ok(bytes) => Ok(Transfer {
            bytes,
            resumed_from: 0,
        }),
        Err(why) => {
            let _ = std::fs::remove_file(part);
            Err(why)
        }
    }
}

/// Download `url` into `part`; `len`, when known, is the file's length, else
/// the server's `Content-Length` or `Content-Range` is trusted (and at most
/// 256 MiB taken). A `part` left by an earlier attempt is continued with
/// `Range: bytes=N-` when the server answers 206 with the matching
/// `Content-Range`, and started over when it answers 200 (no range support)
/// or 416; a `part` longer than `len` is started over without asking. Whether
/// a `part` is already complete is for the caller to tell. On an interrupted
/// transfer what arrived stays in `part` for the next run.
pub(crate) fn download_resumable(
    url: &str,
    part: &Path,
    len: Option<u64>,
    progress: Progress,
) -> Result<Transfer, String> {
    let mut have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if len.is_some_and(|len| have > len) {
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
    let wrong_size = |t: u64, len: u64| {
        format!("the server's file is {t} bytes, expected {len} (wrong or changed file)")
    };
    let (start, expected) = if response.status() == 206 {
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
        match (total, len) {
            (Some(t), Some(len)) if t != len => return Err(wrong_size(t, len)),
            _ => (have, len.or(total)),
        }
    } else {
        let total = response
            .header("Content-Length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let (Some(t), Some(len)) = (total, len) {
            if t != len {
                return Err(wrong_size(t, len));
            }
        }
        if have > 0 {
            progress.note(&format!(
                "{url}: the server does not resume downloads; starting over"
            ));
        }
        (0, len.or(total))
    };
    let limit = expected.unwrap_or(MAX_BYTES);
    if start > limit {
        return Err(format!(
            "the server's file is {limit} bytes, fewer than the {start} already downloaded"
        ));
    }
    let file = if start > 0 {
        OpenOptions::new().append(true).open(part)
    } else {
        File::create(part)
    }
    .map_err(|e| format!("cannot write {}: {}", part.display(), one_line(e)))?;
    let bar = match progress {
        Progress::Bar => {
            let b = bar(url, expected);
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
    let remaining = limit - start;
    let mut reader = response.into_reader();
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0u64;
    let mut overflow = false;
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
                    overflow = true;
                    break Ok(());
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
    let of_len = expected.map(|n| format!(" of {n}")).unwrap_or_default();
    if overflow {
        // Too long: the wrong file, not worth resuming.
        remove(part)?;
        return Err(format!(
            "the server sent more than {limit} bytes (wrong file); the download was deleted"
        ));
    }
    outcome
        .and(flushed)
        .and_then(|()| {
            if expected.is_some() && got < remaining {
                Err("the transfer ended early".to_string())
            } else {
                Ok(())
            }
        })
        .map_err(|why| {
            format!(
                "{why}; {kept}{of_len} bytes kept in {}: rerun to resume",
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
