//! Fetching CIFAR-10 / SVHN / Imagenette-style downloads against a loopback
//! HTTP server: archive extraction, checksums, atomicity, resume with `Range`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

use crate::support::formats::*;
use conflicting_bundles::data::checksum::sha256_hex;
use conflicting_bundles::data::remote::{part_path, MANIFEST};
use conflicting_bundles::data::{
    fetch, fetch_remote, load, DataError, DatasetKind, FetchOutcome, RemoteFile, Split,
};

/// How the server behaves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Honours `Range: bytes=N-` with 206.
    Ranges,
    /// Ignores `Range`: always 200 with the whole file.
    NoRanges,
    /// Announces the whole length but closes after this many body bytes.
    CutAfter(usize),
}

/// One request as the server saw it: path and `Range` header (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hit {
    path: String,
    range: Option<String>,
}

/// A tiny HTTP/1.1 server on 127.0.0.1 serving `files` by name; 404 otherwise.
struct Server {
    base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Server {
    fn start(files: HashMap<String, Vec<u8>>, mode: Mode) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&hits);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &files, mode, &log);
            }
        });
        Server { base, hits }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

fn serve(
    stream: TcpStream,
    files: &HashMap<String, Vec<u8>>,
    mode: Mode,
    log: &Mutex<Vec<Hit>>,
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
    log.lock().unwrap().push(Hit {
        path: path.clone(),
        range: range.clone(),
    });
    let mut out = stream;
    let Some(body) = files.get(path.trim_start_matches('/')) else {
        write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return out.flush();
    };
    let start = match (mode, &range) {
        (Mode::Ranges, Some(r)) => r
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok()),
        _ => None,
    };
    match start {
        Some(s) if s >= body.len() => write!(
            out,
            "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            body.len()
        )?,
        Some(s) => {
            write!(
                out,
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len() - 1,
                body.len(),
                body.len() - s
            )?;
            out.write_all(&body[s..])?;
        }
        None => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n\
                 Connection: close\r\n\r\n",
                body.len()
            )?;
            let n = match mode {
                Mode::CutAfter(n) => n.min(body.len()),
                _ => body.len(),
            };
            out.write_all(&body[..n])?;
        }
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

/// Catalogue entries for test content (the digests are computed here).
struct Spec {
    name: String,
    len: u64,
    sha256: String,
    extract_to: Option<String>,
}

impl Spec {
    fn new(name: &str, bytes: &[u8], extract_to: Option<&str>) -> Spec {
        Spec {
            name: name.to_string(),
            len: bytes.len() as u64,
            sha256: sha256_hex(bytes),
            extract_to: extract_to.map(str::to_string),
        }
    }

    fn file(&self) -> RemoteFile<'_> {
        RemoteFile {
            name: &self.name,
            len: self.len,
            sha256: &self.sha256,
            extract_to: self.extract_to.as_deref(),
        }
    }
}

const ARCHIVE: &str = "cifar-10-binary.tar.gz";

#[test]
fn archive_is_extracted_verified_and_kept() {
    let archive = cifar_archive(2);
    let spec = Spec::new(ARCHIVE, &archive, Some("cifar-10-batches-bin"));
    let server = Server::start(HashMap::from([(ARCHIVE.into(), archive)]), Mode::Ranges);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let got = fetch_remote(&spec.file(), &data, &[&server.base], false).unwrap();
    assert_eq!(got.path, data.join("cifar-10-batches-bin"));
    assert!(
        matches!(&got.outcome, FetchOutcome::Downloaded { source, resumed_from: 0, .. }
            if *source == format!("{}{ARCHIVE}", server.base)),
        "{:?}",
        got.outcome
    );
    // Only the extracted folder remains: no archive, no .part, no temporaries.
    assert_eq!(listing(&data), ["cifar-10-batches-bin"]);
    let folder = data.join("cifar-10-batches-bin");
    let mut want = vec![
        MANIFEST.to_string(),
        "batches.meta.txt".into(),
        "readme.html".into(),
        "test_batch.bin".into(),
    ];
    want.extend((1..=5).map(|i| format!("data_batch_{i}.bin")));
    want.sort();
    assert_eq!(listing(&folder), want);
    let manifest = std::fs::read_to_string(folder.join(MANIFEST)).unwrap();
    assert!(manifest.contains(&format!(
        "{}  data_batch_1.bin",
        sha256_hex(&cifar_file(0, 2))
    )));
    // The real loader reads what was extracted.
    let train = load(&data, DatasetKind::Cifar10, Split::Train).unwrap();
    assert_eq!(train.len(), 10);
    assert_eq!(train.labels[..4], [0, 1, 1, 2]);
    assert_eq!(train.image(3)[7], f32::from(cifar_pixel(101, 7)) / 255.0);
    assert_eq!(
        load(&data, DatasetKind::Cifar10, Split::Test)
            .unwrap()
            .labels,
        [5, 6]
    );

    // Again: intact, so nothing is requested.
    let again = fetch_remote(&spec.file(), &data, &[&server.base], false).unwrap();
    assert_eq!(again.outcome, FetchOutcome::AlreadyValid);
    assert_eq!(server.hits().len(), 1);

    // A damaged extracted file: the loader names the fix, and the fix works.
    let batch = folder.join("data_batch_2.bin");
    let bytes = std::fs::read(&batch).unwrap();
    std::fs::write(&batch, &bytes[..100]).unwrap();
    let msg = load(&data, DatasetKind::Cifar10, Split::Train)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("data_batch_2.bin") && msg.contains("cb data fetch cifar10"),
        "{msg}"
    );
    let repaired = fetch_remote(&spec.file(), &data, &[&server.base], false).unwrap();
    assert!(matches!(repaired.outcome, FetchOutcome::Downloaded { .. }));
    assert_eq!(server.hits().len(), 2);
    assert_eq!(std::fs::read(&batch).unwrap(), bytes);
    assert_eq!(listing(&data), ["cifar-10-batches-bin"]);
    assert_eq!(
        load(&data, DatasetKind::Cifar10, Split::Train).unwrap(),
        train
    );
}

#[test]
fn checksum_mismatch_leaves_nothing() {
    let archive = cifar_archive(1);
    let mut spec = Spec::new(ARCHIVE, &archive, Some("cifar-10-batches-bin"));
    spec.sha256 = sha256_hex(b"something else");
    let server = Server::start(HashMap::from([(ARCHIVE.into(), archive)]), Mode::Ranges);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_remote(&spec.file(), dir.path(), &[&server.base], false).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Fetch { .. }), "{err:?}");
    assert!(!msg.contains('\n'), "{msg}");
    assert!(
        msg.contains(&format!("{}{ARCHIVE}: sha256 mismatch", server.base)),
        "{msg}"
    );
    assert!(msg.contains("deleted"), "{msg}");
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));

    // Same for a plain file (of the right length).
    let content = b"plain file content".repeat(100);
    let mut plain = Spec::new("train_32x32.mat", &content, None);
    plain.sha256 = sha256_hex(b"other");
    let server = Server::start(
        HashMap::from([("train_32x32.mat".into(), content)]),
        Mode::Ranges,
    );
    let msg = fetch_remote(&plain.file(), dir.path(), &[&server.base], false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("train_32x32.mat: sha256 mismatch") && msg.contains("deleted"),
        "{msg}"
    );
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn the_real_catalogue_rejects_a_wrong_file_before_downloading_it() {
    // The server's "CIFAR-10 archive" is tiny: the length check stops it at the headers.
    let server = Server::start(
        HashMap::from([(ARCHIVE.into(), cifar_archive(1))]),
        Mode::Ranges,
    );
    let dir = tempfile::tempdir().unwrap();
    let msg = fetch(DatasetKind::Cifar10, dir.path(), Some(&server.base), false)
        .unwrap_err()
        .to_string();
    assert!(!msg.contains('\n'), "{msg}");
    assert!(
        msg.contains(ARCHIVE) && msg.contains("expected 170052171"),
        "{msg}"
    );
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    // SVHN: no file on the server at all.
    let msg = fetch(DatasetKind::Svhn, dir.path(), Some(&server.base), false)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("train_32x32.mat: HTTP status 404"), "{msg}");
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn resumes_a_partial_download_with_range() {
    let content: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let spec = Spec::new("test_32x32.mat", &content, None);
    let server = Server::start(
        HashMap::from([("test_32x32.mat".into(), content.clone())]),
        Mode::Ranges,
    );
    let dir = tempfile::tempdir().unwrap();
    let part = part_path(dir.path(), "test_32x32.mat");
    std::fs::write(&part, &content[..20_000]).unwrap();
    let got = fetch_remote(&spec.file(), dir.path(), &[&server.base], false).unwrap();
    assert_eq!(
        got.outcome,
        FetchOutcome::Downloaded {
            source: format!("{}test_32x32.mat", server.base),
            bytes: 30_000,
            resumed_from: 20_000,
        }
    );
    assert_eq!(
        server.hits(),
        [Hit {
            path: "/test_32x32.mat".into(),
            range: Some("bytes=20000-".into())
        }]
    );
    assert_eq!(
        std::fs::read(dir.path().join("test_32x32.mat")).unwrap(),
        content
    );
    assert_eq!(listing(dir.path()), ["test_32x32.mat"]);
}

#[test]
fn interrupted_download_is_kept_then_resumed() {
    let archive = cifar_archive(3);
    let spec = Spec::new(ARCHIVE, &archive, Some("cifar-10-batches-bin"));
    let files = HashMap::from([(ARCHIVE.to_string(), archive.clone())]);
    let cut = archive.len() / 3;
    let flaky = Server::start(files.clone(), Mode::CutAfter(cut));
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_remote(&spec.file(), dir.path(), &[&flaky.base], false).unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    assert!(
        msg.contains(&format!("{cut} of {} bytes kept", archive.len())),
        "{msg}"
    );
    assert!(msg.contains("rerun to resume"), "{msg}");
    // Nothing at the final path; the partial download waits for the next run.
    let part = part_path(dir.path(), ARCHIVE);
    assert_eq!(listing(dir.path()), [format!("{ARCHIVE}.part")]);
    assert_eq!(std::fs::read(&part).unwrap(), archive[..cut]);

    let good = Server::start(files, Mode::Ranges);
    let got = fetch_remote(&spec.file(), dir.path(), &[&good.base], false).unwrap();
    assert!(
        matches!(got.outcome, FetchOutcome::Downloaded { resumed_from, bytes, .. }
            if resumed_from == cut as u64 && bytes == (archive.len() - cut) as u64),
        "{:?}",
        got.outcome
    );
    assert_eq!(good.hits()[0].range, Some(format!("bytes={cut}-")));
    assert_eq!(listing(dir.path()), ["cifar-10-batches-bin"]);
    assert_eq!(
        load(dir.path(), DatasetKind::Cifar10, Split::Test)
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn a_server_without_ranges_restarts_the_download() {
    let content: Vec<u8> = (0..10_000u32).map(|i| (i % 13) as u8).collect();
    let spec = Spec::new("train_32x32.mat", &content, None);
    let server = Server::start(
        HashMap::from([("train_32x32.mat".into(), content.clone())]),
        Mode::NoRanges,
    );
    let dir = tempfile::tempdir().unwrap();
    // A stale partial download of something else.
    std::fs::write(part_path(dir.path(), "train_32x32.mat"), [0xaa; 4000]).unwrap();
    let got = fetch_remote(&spec.file(), dir.path(), &[&server.base], false).unwrap();
    assert!(
        matches!(
            got.outcome,
            FetchOutcome::Downloaded {
                resumed_from: 0,
                bytes: 10_000,
                ..
            }
        ),
        "{:?}",
        got.outcome
    );
    assert_eq!(server.hits()[0].range.as_deref(), Some("bytes=4000-"));
    assert_eq!(
        std::fs::read(dir.path().join("train_32x32.mat")).unwrap(),
        content
    );
    assert_eq!(listing(dir.path()), ["train_32x32.mat"]);
}

#[test]
fn a_damaged_partial_download_fails_the_checksum_and_is_deleted() {
    let content: Vec<u8> = (0..10_000u32).map(|i| (i % 17) as u8).collect();
    let spec = Spec::new("train_32x32.mat", &content, None);
    let server = Server::start(
        HashMap::from([("train_32x32.mat".into(), content.clone())]),
        Mode::Ranges,
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(part_path(dir.path(), "train_32x32.mat"), [0xaa; 4000]).unwrap();
    let msg = fetch_remote(&spec.file(), dir.path(), &[&server.base], false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("sha256 mismatch") && msg.contains("deleted"),
        "{msg}"
    );
    assert!(listing(dir.path()).is_empty());
    // The next run starts from scratch and succeeds.
    let got = fetch_remote(&spec.file(), dir.path(), &[&server.base], false).unwrap();
    assert!(matches!(
        got.outcome,
        FetchOutcome::Downloaded {
            resumed_from: 0,
            ..
        }
    ));
    assert_eq!(
        std::fs::read(dir.path().join("train_32x32.mat")).unwrap(),
        content
    );
}

#[test]
fn local_mirror_and_a_bad_archive_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    std::fs::create_dir_all(&mirror).unwrap();
    let content = b"MATLAB-ish".repeat(50);
    std::fs::write(mirror.join("test_32x32.mat"), &content).unwrap();
    let spec = Spec::new("test_32x32.mat", &content, None);
    let data = dir.path().join("data");
    let mirror_s = mirror.display().to_string();
    let got = fetch_remote(&spec.file(), &data, &[&mirror_s], false).unwrap();
    assert!(matches!(got.outcome, FetchOutcome::Downloaded { .. }));
    assert_eq!(std::fs::read(data.join("test_32x32.mat")).unwrap(), content);
    assert_eq!(listing(&data), ["test_32x32.mat"]);
    assert!(
        mirror.join("test_32x32.mat").is_file(),
        "the mirror's copy stays"
    );

    // An archive (passing its checksum) with an entry outside its folder.
    let bad = tar_gz(&[
        (
            "cifar-10-batches-bin/data_batch_1.bin",
            Some(&cifar_file(0, 1)[..]),
        ),
        ("elsewhere/evil.bin", Some(b"x")),
    ]);
    std::fs::write(mirror.join(ARCHIVE), &bad).unwrap();
    let spec = Spec::new(ARCHIVE, &bad, Some("cifar-10-batches-bin"));
    let err = fetch_remote(&spec.file(), &data, &[&mirror_s], false).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Invalid { .. }), "{err:?}");
    assert!(
        msg.contains(ARCHIVE) && msg.contains("elsewhere/evil.bin"),
        "{msg}"
    );
    assert_eq!(
        listing(&data),
        ["test_32x32.mat"],
        "no partial extraction left"
    );
    // A truncated archive whose digests (of the truncated bytes) match.
    let good = cifar_archive(1);
    let cut = &good[..good.len() / 2];
    std::fs::write(mirror.join(ARCHIVE), cut).unwrap();
    let spec = Spec::new(ARCHIVE, cut, Some("cifar-10-batches-bin"));
    let msg = fetch_remote(&spec.file(), &data, &[&mirror_s], false)
        .unwrap_err()
        .to_string();
    assert!(
        !msg.contains('\n') && msg.contains("tar.gz archive"),
        "{msg}"
    );
    assert_eq!(listing(&data), ["test_32x32.mat"]);
}

#[test]
fn cli_fetch_fails_in_one_line() {
    let server = Server::start(
        HashMap::from([("imagenette2-160.tgz".into(), b"tiny".to_vec())]),
        Mode::Ranges,
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cb"))
        .args(["data", "fetch", "imagenette", "--mirror", &server.base])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: could not fetch imagenette2-160.tgz"),
        "{stderr}"
    );
    assert!(
        last.contains("the server's file is 4 bytes, expected 98948031"),
        "{stderr}"
    );
    // The command line adds its own flag to the library's advice.
    assert!(last.contains("pass --mirror URL-or-DIR"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(listing(dir.path()).is_empty());
    // An unknown dataset is a usage error naming the choices.
    let out = Command::new(env!("CARGO_BIN_EXE_cb"))
        .args(["data", "fetch", "cifar"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cifar10, svhn, imagenette"), "{stderr}");
}

#[test]
fn links_and_metadata_entries_are_skipped() {
    // As `git archive` and other tools write them: a pax global header first,
    // and a symlink pointing out of the folder that must not be followed.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    let pax = b"52 comment=0123456789012345678901234567890123456789\n";
    h.set_entry_type(tar::EntryType::XGlobalHeader);
    h.set_size(pax.len() as u64);
    h.set_cksum();
    b.append_data(&mut h, "pax_global_header", &pax[..])
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "cifar-10-batches-bin/link", "/etc/passwd")
        .unwrap();
    for (name, bytes) in cifar_files(1) {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("cifar-10-batches-bin/{name}"), &bytes[..])
            .unwrap();
    }
    let archive = gz(&b.into_inner().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    std::fs::create_dir_all(&mirror).unwrap();
    std::fs::write(mirror.join(ARCHIVE), &archive).unwrap();
    let spec = Spec::new(ARCHIVE, &archive, Some("cifar-10-batches-bin"));
    let data = dir.path().join("data");
    fetch_remote(&spec.file(), &data, &[mirror.to_str().unwrap()], false).unwrap();
    let folder = data.join("cifar-10-batches-bin");
    assert!(!folder.join("link").exists());
    assert_eq!(listing(&data), ["cifar-10-batches-bin"]);
    assert_eq!(listing(&folder).len(), 7, "{:?}", listing(&folder));
    assert_eq!(
        load(&data, DatasetKind::Cifar10, Split::Test)
            .unwrap()
            .len(),
        1
    );
}
