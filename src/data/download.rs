//! Getting one file's bytes from one mirror (an http(s) base URL or a local
//! directory), with progress display. No verification here.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
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
    fn note_lines(self, msg: &str) {
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

fn local_dir(mirror: &str) -> Option<PathBuf> {
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

fn download(url: &str, progress: Progress) -> Result<Vec<u8>, String> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(20))
        .timeout_read(Duration::from_secs(60))
        .build();
    let response = agent.get(url).call().map_err(|e| describe(url, e))?;
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
