//! `fetch` against a loopback HTTP server that serves ../shared/data/mnist.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;

use conflicting_bundles::data::{
    fetch, fetch_from, load_mnist, DataError, DatasetKind, FetchOutcome, Split,
};
use flate2::write::GzEncoder;
use flate2::Compression;

fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist")
}

/// A tiny HTTP/1.1 server on 127.0.0.1: `GET /<name>` serves `root/<name>`, or
/// the override for `<name>`; anything else is 404. `Range: bytes=N-` is
/// honoured (206, or 416 past the end). It records every path asked, and the
/// `Range` header of each request.
struct Server {
    base: String,
    hits: Arc<Mutex<Vec<Request>>>,
}

/// A request's path and `Range` header.
type Request = (String, Option<String>);

impl Server {
    fn start(root: PathBuf, overrides: HashMap<String, Vec<u8>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&hits);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &root, &overrides, &log);
            }
        });
        Server { base, hits }
    }

    fn hits(&self) -> Vec<String> {
        self.requests().into_iter().map(|(path, _)| path).collect()
    }

    /// Every request: path and `Range` header.
    fn requests(&self) -> Vec<Request> {
        self.hits.lock().unwrap().clone()
    }
}

fn serve(
    stream: TcpStream,
    root: &Path,
    overrides: &HashMap<String, Vec<u8>>,
    log: &Mutex<Vec<Request>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    log.lock().unwrap().push((path.clone(), range.clone()));
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let name = path.trim_start_matches('/');
    let body = match overrides.get(name) {
        Some(b) => Some(b.clone()),
        None if !name.is_empty() && !name.contains('/') => std::fs::read(root.join(name)).ok(),
        None => None,
    };
    let mut out = stream;
    match body {
        Some(b) if start.is_some_and(|s| s >= b.len()) => write!(
            out,
            "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            b.len()
        )?,
        Some(b) if start.is_some() => {
            let s = start.unwrap();
            write!(
                out,
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                b.len() - 1,
                b.len(),
                b.len() - s
            )?;
            out.write_all(&b[s..])?;
        }
        Some(b) => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                b.len()
            )?;
            out.write_all(&b)?;
        }
        None => write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?,
    }
    out.flush()
}

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const ALL_GZ: [&str; 4] = [
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
];

#[test]
fn fetch_then_refetch_downloads_nothing() {
    let server = Server::start(mnist_dir(), HashMap::new());
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("nested/data");
    let report = fetch(DatasetKind::Mnist, &target, Some(&server.base), false).unwrap();
    assert_eq!(report.downloaded(), 4);
    assert_eq!(listing(&target), ALL_GZ);
    for f in &report.files {
        assert!(f.path.is_file());
        assert!(
            matches!(&f.outcome, FetchOutcome::Downloaded { source, .. } if source.starts_with(&server.base))
        );
    }
    let test = load_mnist(&target, DatasetKind::Mnist, Split::Test).unwrap();
    assert_eq!(test.len(), 10_000);
    let hits = server.hits().len();
    assert_eq!(hits, 4);

    let again = fetch(DatasetKind::Mnist, &target, Some(&server.base), false).unwrap();
    assert_eq!(again.downloaded(), 0);
    assert_eq!(again.already_valid(), 4);
    assert!(again
        .files
        .iter()
        .all(|f| f.outcome == FetchOutcome::AlreadyValid));
    assert_eq!(server.hits().len(), hits, "second fetch made requests");
    assert_eq!(listing(&target), ALL_GZ);
}

#[test]
fn flipped_bytes_are_rejected_and_leave_nothing() {
    let bad = "t10k-labels-idx1-ubyte.gz";
    let mut bytes = std::fs::read(mnist_dir().join(bad)).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0xff;
    }
    let server = Server::start(mnist_dir(), HashMap::from([(bad.to_string(), bytes)]));
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(DatasetKind::Mnist, dir.path(), Some(&server.base), false).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Fetch { .. }), "{err:?}");
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.contains(bad), "{msg}");
    assert!(msg.contains(&format!("{}{bad}", server.base)), "{msg}");
    assert!(msg.contains("gzip") || msg.contains("sha256"), "{msg}");
    // Files before it in the catalogue order are complete; nothing else is there.
    assert_eq!(
        listing(dir.path()),
        [
            "t10k-images-idx3-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz"
        ]
    );
}

#[test]
fn valid_gzip_of_wrong_content_fails_the_checksum() {
    let name = "t10k-labels-idx1-ubyte";
    let raw = std::fs::read(mnist_dir().join(format!("{name}.gz"))).unwrap();
    let mut content = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut content).unwrap();
    content[100] = content[100].wrapping_add(1);
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(&content).unwrap();
    let server = Server::start(
        mnist_dir(),
        HashMap::from([(format!("{name}.gz"), enc.finish().unwrap())]),
    );
    let dir = tempfile::tempdir().unwrap();
    let msg = fetch(DatasetKind::Mnist, dir.path(), Some(&server.base), false)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("sha256 mismatch"), "{msg}");
    assert!(
        msg.contains(
            DatasetKind::Mnist
                .labels_file(Split::Test)
                .unwrap()
                .raw_sha256
        ),
        "{msg}"
    );
    assert!(!listing(dir.path())
        .iter()
        .any(|n| n.starts_with(name) || n.starts_with('.')));
}

#[test]
fn mirrors_are_tried_in_order_and_all_failures_named() {
    let server = Server::start(mnist_dir(), HashMap::new());
    let broken = format!("{}missing/", server.base);
    let dir = tempfile::tempdir().unwrap();
    let report = fetch_from(
        DatasetKind::Mnist,
        dir.path(),
        &[&broken, &server.base],
        false,
    )
    .unwrap();
    assert_eq!(report.downloaded(), 4);
    let hits = server.hits();
    assert_eq!(hits.len(), 8);
    assert!(hits[0].starts_with("/missing/") && !hits[1].starts_with("/missing/"));

    let other = tempfile::tempdir().unwrap();
    let also_broken = format!("{}gone", server.base);
    let msg = fetch_from(
        DatasetKind::Mnist,
        other.path(),
        &[&broken, &also_broken],
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains(&format!(
            "{broken}train-images-idx3-ubyte.gz: HTTP status 404"
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "{also_broken}/train-images-idx3-ubyte.gz: HTTP status 404"
        )),
        "{msg}"
    );
    assert!(listing(other.path()).is_empty());
    // The library's advice fits notebooks too: no command-line flag in it.
    let folder = other.path().display().to_string();
    assert!(
        msg.contains(&format!("put into {folder} by hand")) && msg.contains("CB_DATA_DIR"),
        "{msg}"
    );
    assert!(!msg.contains("--mirror"), "{msg}");
}

#[test]
fn local_directory_mirror_and_repair_of_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let mirror = mnist_dir().display().to_string();
    // A damaged existing file is replaced; the others are fetched.
    std::fs::write(dir.path().join("train-labels-idx1-ubyte.gz"), b"junk").unwrap();
    let report = fetch(DatasetKind::Mnist, dir.path(), Some(&mirror), false).unwrap();
    assert_eq!(report.downloaded(), 4);
    assert_eq!(listing(dir.path()), ALL_GZ);
    let labels = load_mnist(dir.path(), DatasetKind::Mnist, Split::Test).unwrap();
    assert_eq!(labels.len(), 10_000);
    let again = fetch(DatasetKind::Mnist, dir.path(), Some(&mirror), false).unwrap();
    assert_eq!(again.downloaded(), 0);
}

#[test]
fn https_and_unreachable_mirrors_fail_cleanly() {
    // Nothing listens on port 1 of loopback; https needs a TLS-enabled ureq.
    let dir = tempfile::tempdir().unwrap();
    let msg = fetch_from(
        DatasetKind::FashionMnist,
        dir.path(),
        &["http://127.0.0.1:1/", "https://127.0.0.1:1/"],
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(!msg.contains('\n'), "{msg}");
    assert!(
        msg.contains("http://127.0.0.1:1/train-images-idx3-ubyte.gz: "),
        "{msg}"
    );
    assert!(
        msg.contains("https://127.0.0.1:1/train-images-idx3-ubyte.gz: "),
        "{msg}"
    );
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn https_without_tls_says_how_to_enable_it() {
    let server = Server::start(mnist_dir(), HashMap::new());
    let https = server.base.replace("http://", "https://");
    let dir = tempfile::tempdir().unwrap();
    let msg = fetch(DatasetKind::Mnist, dir.path(), Some(&https), false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!("{https}train-images-idx3-ubyte.gz: ")),
        "{msg}"
    );
    // Only when this build of ureq lacks TLS (the default here) is there a hint.
    if msg.contains("no TLS backend") {
        assert!(msg.contains("`tls` feature"), "{msg}");
    }
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn an_interrupted_small_file_fetch_resumes_and_verifies() {
    let server = Server::start(mnist_dir(), HashMap::new());
    let dir = tempfile::tempdir().unwrap();
    // Left by an interrupted run: half of one file, all of another.
    let half = "train-labels-idx1-ubyte.gz";
    let whole = "t10k-labels-idx1-ubyte.gz";
    let half_bytes = std::fs::read(mnist_dir().join(half)).unwrap();
    let cut = half_bytes.len() / 2;
    std::fs::write(dir.path().join(format!("{half}.part")), &half_bytes[..cut]).unwrap();
    let whole_bytes = std::fs::read(mnist_dir().join(whole)).unwrap();
    std::fs::write(dir.path().join(format!("{whole}.part")), &whole_bytes).unwrap();

    let report = fetch(DatasetKind::Mnist, dir.path(), Some(&server.base), false).unwrap();
    assert_eq!(report.downloaded(), 4);
    let outcome = |name: &str| {
        report
            .files
            .iter()
            .find(|f| f.path == dir.path().join(name))
            .map(|f| f.outcome.clone())
            .unwrap()
    };
    assert_eq!(
        outcome(half),
        FetchOutcome::Downloaded {
            source: format!("{}{half}", server.base),
            bytes: (half_bytes.len() - cut) as u64,
            resumed_from: cut as u64,
        }
    );
    // The complete one is verified and installed without a request.
    assert_eq!(
        outcome(whole),
        FetchOutcome::Downloaded {
            source: format!("{}{whole}", server.base),
            bytes: 0,
            resumed_from: whole_bytes.len() as u64,
        }
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(requests.contains(&(format!("/{half}"), Some(format!("bytes={cut}-")))));
    assert!(!requests.iter().any(|(p, _)| p.ends_with(whole)));
    assert_eq!(listing(dir.path()), ALL_GZ);
    assert_eq!(std::fs::read(dir.path().join(half)).unwrap(), half_bytes);
    let train = load_mnist(dir.path(), DatasetKind::Mnist, Split::Train).unwrap();
    assert_eq!(train.len(), 60_000);
    assert_eq!(
        load_mnist(dir.path(), DatasetKind::Mnist, Split::Test)
            .unwrap()
            .len(),
        10_000
    );
}

#[test]
fn a_resumed_small_file_that_fails_verification_is_deleted() {
    let server = Server::start(mnist_dir(), HashMap::new());
    let dir = tempfile::tempdir().unwrap();
    // Not the start of the server's file: resuming it yields a wrong file.
    let name = "t10k-labels-idx1-ubyte.gz";
    let part = dir.path().join(format!("{name}.part"));
    std::fs::write(&part, [0x1f, 0x8b, 0, 0, 0, 0]).unwrap();
    let msg = fetch(DatasetKind::Mnist, dir.path(), Some(&server.base), false)
        .unwrap_err()
        .to_string();
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.contains(&format!("{}{name}: ", server.base)), "{msg}");
    assert!(msg.contains("deleted"), "{msg}");
    assert!(
        server
            .requests()
            .contains(&(format!("/{name}"), Some("bytes=6-".to_string()))),
        "{:?}",
        server.requests()
    );
    // The three files before it are in place; nothing of it is left.
    assert_eq!(
        listing(dir.path()),
        [
            "t10k-images-idx3-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz"
        ]
    );
    // The next run starts that file from scratch.
    let again = fetch(DatasetKind::Mnist, dir.path(), Some(&server.base), false).unwrap();
    assert_eq!(again.downloaded(), 1);
    assert_eq!(listing(dir.path()), ALL_GZ);
}
