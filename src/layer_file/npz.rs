//! A `.npz` archive: numpy's `savez` (entries stored) or `savez_compressed`
//! (entries deflated), one array per entry `NAME.npy`, in the archive's
//! order. numpy writes every entry with zip64 extensions (`force_zip64`);
//! the `zip` crate reads those.
//!
//! Only the central directory is parsed by the `zip` crate; each entry is
//! read raw and decompressed and CRC-checked here, so that what the crate
//! would panic on (an entry marked AES-encrypted but not flagged encrypted)
//! is just bytes that fail their checks. Entries are streamed, never read
//! whole: the archive itself is never in memory, one entry's values are.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use flate2::read::DeflateDecoder;
use zip::{CompressionMethod, ZipArchive};

use super::{layer_error, npy_values, shown, LayerFileError, LayerInfo};
use crate::npy::NpyStream;

/// Most bytes deflate can expand one compressed byte to (a 258-byte match
/// in as little as 2 bits, asymptotically): an entry declaring more is
/// refused before its size is trusted for an allocation.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Slack on [`MAX_DEFLATE_RATIO`] for the block headers of tiny entries.
const DEFLATE_SLACK: u64 = 1024;

pub(super) struct Npz {
    archive: ZipArchive<Positioned>,
    entries: Vec<Entry>,
}

/// What reading an entry needs, from the central directory.
struct Entry {
    /// Its name in the archive (`NAME.npy`), which errors name.
    name: String,
    deflated: bool,
    crc32: u32,
    /// Uncompressed size: the `.npy`'s length.
    size: u64,
}

impl Npz {
    pub(super) fn open(path: &Path) -> Result<(Self, Vec<LayerInfo>), LayerFileError> {
        let io_err = LayerFileError::io(path);
        let format = LayerFileError::format(path);
        let reader = Positioned::new(File::open(path).map_err(io_err)?).map_err(io_err)?;
        let file_len = reader.len;
        if file_len == 0 {
            return Err(format("empty file, not a zip archive".into()));
        }
        let archive = ZipArchive::new(reader)
            .map_err(|e| format(format!("not a zip archive: {}", shown(&e.to_string()))))?;
        if archive.is_empty() {
            return Err(format("the archive holds no arrays".into()));
        }
        let count = archive.len();
        let mut npz = Npz {
            archive,
            entries: Vec::with_capacity(count),
        };
        let mut layers = Vec::with_capacity(npz.archive.len());
        for i in 0..npz.archive.len() {
            let raw = npz.archive.by_index_raw(i).map_err(|e| {
                format(format!(
                    "entry {} of {count}: {}",
                    i + 1,
                    shown(&e.to_string())
                ))
            })?;
            let name = raw.name().to_string();
            let Some(layer) = name.strip_suffix(".npy") else {
                return Err(format(format!(
                    "entry {} is not a .npy array (an .npz holds only NAME.npy entries)",
                    shown(&name)
                )));
            };
            let err = |reason: String| layer_error(path, layer, reason);
            let deflated = match raw.compression() {
                CompressionMethod::Stored => false,
                CompressionMethod::Deflated => true,
                other => {
                    return Err(err(format!(
                        "compressed with {other:?}; only stored and deflated entries are read"
                    )))
                }
            };
            let (size, packed) = (raw.size(), raw.compressed_size());
            // The sizes come from the central directory; they are checked
            // against the archive's length (and deflate's greatest
            // expansion) here, so that a lying size cannot make `read`
            // reserve memory the file does not justify.
            if raw
                .data_start()
                .checked_add(packed)
                .is_none_or(|end| end > file_len)
            {
                return Err(err(format!(
                    "{packed} bytes of data at offset {} run past the end of the archive ({file_len} bytes)",
                    raw.data_start()
                )));
            }
            if !deflated && size != packed {
                return Err(err(format!(
                    "stored entry declares {size} bytes but holds {packed}"
                )));
            }
            let most = packed
                .saturating_mul(MAX_DEFLATE_RATIO)
                .saturating_add(DEFLATE_SLACK);
            if deflated && size > most {
                return Err(err(format!(
                    "entry declares {size} bytes uncompressed from {packed} compressed, more than deflate can expand to"
                )));
            }
            let entry = Entry {
                name: name.clone(),
                deflated,
                crc32: raw.crc32(),
                size,
            };
            let stream = NpyStream::new(entry.stream(raw), size, Path::new(&name))
                .map_err(|e| err(e.reason()))?;
            layers.push(LayerInfo {
                name: layer.to_string(),
                shape: stream.shape().to_vec(),
                dtype: stream.dtype().to_string(),
            });
            drop(stream);
            npz.entries.push(entry);
        }
        Ok((npz, layers))
    }

    pub(super) fn read(
        &mut self,
        i: usize,
        path: &Path,
        info: &LayerInfo,
    ) -> Result<Vec<f32>, LayerFileError> {
        let entry = &self.entries[i];
        let err = |reason: String| layer_error(path, &info.name, reason);
        let raw = self
            .archive
            .by_index_raw(i)
            .map_err(|e| err(shown(&e.to_string())))?;
        let stream = NpyStream::new(entry.stream(raw), entry.size, Path::new(&entry.name))
            .map_err(|e| err(e.reason()))?;
        let changed = || err("header changed since the archive was opened".into());
        npy_values(stream, info, |e| err(e.reason()), changed)
    }
}

impl Entry {
    /// The entry's uncompressed bytes from its raw (compressed) reader,
    /// CRC-checked at the end.
    fn stream<'a>(&self, raw: impl Read + 'a) -> Checked<Box<dyn Read + 'a>> {
        let inner: Box<dyn Read + 'a> = if self.deflated {
            Box::new(DeflateDecoder::new(raw))
        } else {
            Box::new(raw)
        };
        Checked {
            inner,
            crc: flate2::Crc::new(),
            expected: self.crc32,
            size: self.size,
            done: 0,
        }
    }
}

/// A reader that checks the CRC-32 of what it passed on once its source
/// ends, if that was the declared size (a shorter or longer stream is left
/// for the `.npy` reader to report as such).
struct Checked<R> {
    inner: R,
    crc: flate2::Crc,
    expected: u32,
    size: u64,
    /// Bytes passed on so far.
    done: u64,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.done += n as u64;
        if n == 0 && !buf.is_empty() && self.done == self.size && self.crc.sum() != self.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "CRC-32 {:08x} of the entry's data is not the {:08x} the archive records",
                    self.crc.sum(),
                    self.expected
                ),
            ));
        }
        Ok(n)
    }
}

/// A buffered file whose seeks within the buffer cost nothing: the `zip`
/// crate looks for the end of the central directory by seeking back one
/// byte at a time, which through a plain `BufReader` (whose `seek` drops the
/// buffer) would be a read per byte.
struct Positioned {
    inner: BufReader<File>,
    pos: u64,
    len: u64,
}

impl Positioned {
    fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Positioned {
            inner: BufReader::new(file),
            pos: 0,
            len,
        })
    }
}

impl Read for Positioned {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Positioned {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        match i64::try_from(i128::from(target) - i128::from(self.pos)) {
            Ok(delta) => self.inner.seek_relative(delta)?,
            Err(_) => {
                self.inner.seek(SeekFrom::Start(target))?;
            }
        }
        self.pos = target;
        Ok(target)
    }
}
