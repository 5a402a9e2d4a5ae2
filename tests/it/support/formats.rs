//! Writers for small files in the real dataset formats, independent of the
//! readers: IDX files, CIFAR binary records, tar.gz archives, MATLAB level-5
//! MAT-files and JPEGs. Included by the data tests with `#[path]`.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;

// ------------------------------------------------------------------ IDX

/// An IDX images file: `n` images of `rows × cols`, byte `i` of the pixels
/// `i * 37 % 256`.
pub fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for w in [0x0803, n, rows, cols] {
        b.extend_from_slice(&u32::to_be_bytes(w));
    }
    b.extend((0..n * rows * cols).map(|i| (i * 37 % 256) as u8));
    b
}

/// An IDX labels file.
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x0801u32.to_be_bytes());
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

// ------------------------------------------------------------------ CIFAR

/// Pixel `k` (0..3072, channels first) of the image with `seed`.
pub fn cifar_pixel(seed: usize, k: usize) -> u8 {
    ((seed * 31 + k * 7 + k / 1024 * 50) % 256) as u8
}

/// One 3073-byte record.
pub fn cifar_record(label: u8, seed: usize) -> Vec<u8> {
    let mut r = vec![label];
    r.extend((0..3072).map(|k| cifar_pixel(seed, k)));
    r
}

/// The records of file `i` (0..=4 train batches, 5 test) holding `n` images:
/// image `j` has seed `i * 100 + j` and label `(i + j) % 10`.
pub fn cifar_file(i: usize, n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|j| cifar_record(((i + j) % 10) as u8, i * 100 + j))
        .collect()
}

/// `(name, content)` of the six batch files, `n` records each.
pub fn cifar_files(n: usize) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = (1..=5)
        .map(|i| (format!("data_batch_{i}.bin"), cifar_file(i - 1, n)))
        .collect();
    v.push(("test_batch.bin".to_string(), cifar_file(5, n)));
    v
}

/// Write the six files into `dir/cifar-10-batches-bin/`.
pub fn write_cifar_dir(dir: &Path, n: usize) {
    let folder = dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&folder).unwrap();
    for (name, bytes) in cifar_files(n) {
        std::fs::write(folder.join(name), bytes).unwrap();
    }
}

// ------------------------------------------------------------------ tar.gz

/// A gzip tar archive: `(path, Some(content))` is a file, `(path, None)` a folder.
pub fn tar_gz(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in entries {
        let mut header = tar::Header::new_gnu();
        match content {
            Some(bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(bytes.len() as u64);
                header.set_mode(0o644);
                header.set_cksum();
                builder.append_data(&mut header, path, *bytes).unwrap();
            }
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                header.set_mode(0o755);
                header.set_cksum();
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
        }
    }
    gz(&builder.into_inner().unwrap())
}

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The CIFAR-10 archive layout: `cifar-10-batches-bin/` with the six batches,
/// `batches.meta.txt` and `readme.html`.
pub fn cifar_archive(n: usize) -> Vec<u8> {
    let files = cifar_files(n);
    let meta = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
    let mut entries: Vec<(String, Option<Vec<u8>>)> =
        vec![("cifar-10-batches-bin/".to_string(), None)];
    entries.push((
        "cifar-10-batches-bin/batches.meta.txt".into(),
        Some(meta.to_vec()),
    ));
    for (name, bytes) in files {
        entries.push((format!("cifar-10-batches-bin/{name}"), Some(bytes)));
    }
    entries.push((
        "cifar-10-batches-bin/readme.html".into(),
        Some(b"<html></html>".to_vec()),
    ));
    let refs: Vec<(&str, Option<&[u8]>)> = entries
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_deref()))
        .collect();
    tar_gz(&refs)
}

// ------------------------------------------------------------------ MAT

pub const MI_INT8: u32 = 1;
pub const MI_UINT8: u32 = 2;
pub const MI_INT32: u32 = 5;
pub const MI_UINT32: u32 = 6;
pub const MI_DOUBLE: u32 = 9;
pub const MI_MATRIX: u32 = 14;
pub const MI_COMPRESSED: u32 = 15;
pub const MX_CHAR: u32 = 4;
pub const MX_DOUBLE: u32 = 6;
pub const MX_UINT8: u32 = 9;

/// Writes level-5 MAT-files by the format description, in either byte order.
#[derive(Debug, Clone, Copy)]
pub struct Mat {
    pub big_endian: bool,
}

/// One variable: name, class, dimensions, data type and raw data bytes (in
/// the file's byte order, see [`Mat::u8s`], [`Mat::f64s`]).
#[derive(Clone)]
pub struct Var {
    pub name: String,
    pub class: u32,
    pub dims: Vec<i32>,
    pub data_type: u32,
    pub data: Vec<u8>,
}

impl Mat {
    fn u32b(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    pub fn f64s(&self, v: &[f64]) -> Vec<u8> {
        v.iter()
            .flat_map(|x| {
                if self.big_endian {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                }
            })
            .collect()
    }

    pub fn i32s(&self, v: &[i32]) -> Vec<u8> {
        v.iter().flat_map(|&x| self.u32b(x as u32)).collect()
    }

    /// The 128-byte header.
    pub fn header(&self) -> Vec<u8> {
        let mut text = b"MATLAB 5.0 MAT-file, Platform: test, Created on: today".to_vec();
        text.resize(116, b' ');
        text.extend([0u8; 8]); // subsystem data offset
        if self.big_endian {
            text.extend([0x01, 0x00]);
            text.extend(b"MI");
        } else {
            text.extend([0x00, 0x01]);
            text.extend(b"IM");
        }
        text
    }

    /// A data element padded to 8 bytes; small-element format when it fits in 4.
    pub fn element(&self, ty: u32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if data.len() <= 4 && ty != MI_MATRIX {
            out.extend(self.u32b(((data.len() as u32) << 16) | ty));
            out.extend(data);
            out.resize(8, 0);
            return out;
        }
        out.extend(self.u32b(ty));
        out.extend(self.u32b(data.len() as u32));
        out.extend(data);
        while out.len() % 8 != 0 {
            out.push(0);
        }
        out
    }

    /// A miMATRIX element.
    pub fn matrix(&self, v: &Var) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(self.element(MI_UINT32, &[self.u32b(v.class), self.u32b(0)].concat()));
        body.extend(self.element(MI_INT32, &self.i32s(&v.dims)));
        body.extend(self.element(MI_INT8, v.name.as_bytes()));
        body.extend(self.element(v.data_type, &v.data));
        self.element(MI_MATRIX, &body)
    }

    /// A miCOMPRESSED element holding the miMATRIX of `v` (not padded, as
    /// MATLAB and scipy write it); `cut` drops that many bytes off the end of
    /// the zlib stream (the tag says the shortened length).
    pub fn compressed(&self, v: &Var, cut: usize) -> Vec<u8> {
        self.compress_element(&self.matrix(v), cut)
    }

    /// A miCOMPRESSED element holding `element` (any bytes), as [`Mat::compressed`].
    pub fn compress_element(&self, element: &[u8], cut: usize) -> Vec<u8> {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(element).unwrap();
        let mut zipped = z.finish().unwrap();
        zipped.truncate(zipped.len().saturating_sub(cut));
        let mut out = Vec::new();
        out.extend(self.u32b(MI_COMPRESSED));
        out.extend(self.u32b(zipped.len() as u32));
        out.extend(zipped);
        out
    }

    /// A whole file of `vars`, each compressed or not.
    pub fn file(&self, vars: &[Var], compress: bool) -> Vec<u8> {
        let mut out = self.header();
        for v in vars {
            out.extend(if compress {
                self.compressed(v, 0)
            } else {
                self.matrix(v)
            });
        }
        out
    }
}

/// SVHN's `X` value at (row, col, channel, image).
pub fn svhn_pixel(r: usize, c: usize, ch: usize, n: usize) -> u8 {
    ((r * 7 + c * 3 + ch * 50 + n * 11) % 256) as u8
}

/// `X`: 32×32×3×n uint8 in column-major order.
pub fn svhn_x(n: usize) -> Var {
    let mut data = Vec::with_capacity(32 * 32 * 3 * n);
    for i in 0..n {
        for ch in 0..3 {
            for c in 0..32 {
                for r in 0..32 {
                    data.push(svhn_pixel(r, c, ch, i));
                }
            }
        }
    }
    Var {
        name: "X".into(),
        class: MX_UINT8,
        dims: vec![32, 32, 3, n as i32],
        data_type: MI_UINT8,
        data,
    }
}

/// `y`: n×1 labels, stored as uint8.
pub fn svhn_y_u8(labels: &[u8]) -> Var {
    Var {
        name: "y".into(),
        class: MX_UINT8,
        dims: vec![labels.len() as i32, 1],
        data_type: MI_UINT8,
        data: labels.to_vec(),
    }
}

/// `y`: n×1 labels, stored as double.
pub fn svhn_y_f64(mat: &Mat, labels: &[f64]) -> Var {
    Var {
        name: "y".into(),
        class: MX_DOUBLE,
        dims: vec![labels.len() as i32, 1],
        data_type: MI_DOUBLE,
        data: mat.f64s(labels),
    }
}

// ------------------------------------------------------------------ JPEG

/// A JPEG of a `w × h` image with pixel `(x, y)` = `f(x, y)` (RGB), quality 100.
pub fn jpeg_rgb(w: u16, h: u16, f: impl Fn(u16, u16) -> [u8; 3]) -> Vec<u8> {
    let mut px = Vec::new();
    for y in 0..h {
        for x in 0..w {
            px.extend(f(x, y));
        }
    }
    encode(&px, w, h, jpeg_encoder::ColorType::Rgb)
}

/// A grayscale JPEG of a uniform `w × h` image.
pub fn jpeg_gray(w: u16, h: u16, v: u8) -> Vec<u8> {
    encode(
        &vec![v; usize::from(w) * usize::from(h)],
        w,
        h,
        jpeg_encoder::ColorType::Luma,
    )
}

/// A CMYK JPEG (Adobe) of a uniform `w × h` image.
pub fn jpeg_cmyk(w: u16, h: u16, cmyk: [u8; 4]) -> Vec<u8> {
    let px: Vec<u8> = (0..usize::from(w) * usize::from(h))
        .flat_map(|_| cmyk)
        .collect();
    encode(&px, w, h, jpeg_encoder::ColorType::Cmyk)
}

/// How a test JPEG is encoded beyond the defaults (baseline, 4:4:4, no
/// restart markers).
#[derive(Debug, Clone, Copy, Default)]
pub struct JpegStyle {
    pub progressive: bool,
    /// Chroma subsampled 4:2:0.
    pub subsampled: bool,
    /// A restart marker after every MCU.
    pub restart: bool,
}

/// A JPEG of a `w × h` RGB image with pixel `(x, y)` = `f(x, y)`, encoded in `style`.
pub fn jpeg_styled(w: u16, h: u16, style: JpegStyle, f: impl Fn(u16, u16) -> [u8; 3]) -> Vec<u8> {
    let f = &f;
    let px: Vec<u8> = (0..h)
        .flat_map(|y| (0..w).flat_map(move |x| f(x, y)))
        .collect();
    encode_styled(&px, w, h, jpeg_encoder::ColorType::Rgb, style)
}

/// Offset of the frame header (the SOF0 or SOF2 marker) in a JPEG written here;
/// its height is at `+ 5`, its width at `+ 7` (big-endian 16-bit).
pub fn jpeg_sof(jpeg: &[u8]) -> usize {
    jpeg.windows(2)
        .position(|w| w == [0xFF, 0xC0] || w == [0xFF, 0xC2])
        .unwrap()
}

fn encode(px: &[u8], w: u16, h: u16, ty: jpeg_encoder::ColorType) -> Vec<u8> {
    encode_styled(px, w, h, ty, JpegStyle::default())
}

fn encode_styled(
    px: &[u8],
    w: u16,
    h: u16,
    ty: jpeg_encoder::ColorType,
    style: JpegStyle,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 100);
    enc.set_sampling_factor(if style.subsampled {
        jpeg_encoder::SamplingFactor::R_4_2_0
    } else {
        jpeg_encoder::SamplingFactor::R_4_4_4
    });
    enc.set_progressive(style.progressive);
    if style.restart {
        enc.set_restart_interval(1);
    }
    enc.encode(px, w, h, ty).unwrap();
    out
}
