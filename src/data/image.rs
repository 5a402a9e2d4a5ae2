//! Decoding JPEGs to RGB and resizing: the pixel work behind image-folder
//! datasets (Imagenette). Pure Rust; never panics on bad input.

use std::path::Path;

use jpeg_decoder::PixelFormat;

use super::error::{invalid, one_line, read_file, DataError};

const WHAT: &str = "JPEG image";

/// Most pixels an image may have: 16.8 M (4096 × 4096). Imagenette's images
/// are 160 px on the short side and ImageNet's photos a few megapixels; the
/// bound keeps a damaged or hostile header (65 500 × 65 500 is 12.9 GB as RGB)
/// from making the decoder allocate gigabytes before it finds the data missing.
pub const MAX_JPEG_PIXELS: u64 = 1 << 24;

/// Largest JPEG file read: a photo of [`MAX_JPEG_PIXELS`] at the highest
/// quality is well under this.
pub const MAX_JPEG_FILE: u64 = 64 << 20;

/// An 8-bit RGB image, rows top to bottom, pixels interleaved (`r, g, b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    /// `height * width * 3` bytes.
    pub pixels: Vec<u8>,
}

/// Read and decode the JPEG file at `path` (see [`decode_jpeg`]); a file
/// over [`MAX_JPEG_FILE`] bytes is refused unread.
pub fn read_jpeg(path: &Path) -> Result<RgbImage, DataError> {
    let bytes = read_file(path, MAX_JPEG_FILE, WHAT)?;
    decode_jpeg(path, &bytes)
}

/// Decode a baseline or progressive JPEG; grayscale is repeated into three
/// channels and CMYK converted to RGB. `path` names the file in errors. The
/// frame header is read first: an image of more than [`MAX_JPEG_PIXELS`], or
/// with too few bytes after the header for its size (truncated), is refused
/// before anything its size is allocated, and one that ends early is an error,
/// as is a decoder output of the wrong length.
pub fn decode_jpeg(path: &Path, bytes: &[u8]) -> Result<RgbImage, DataError> {
    let err = |reason: String| invalid(path, WHAT, reason);
    frame_header(bytes)
        .and_then(|frame| frame.check(bytes.len()))
        .map_err(err)?;
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    // A second guard on the output (components × pixels), in the decoder itself.
    decoder.set_max_decoding_buffer_size(4 * MAX_JPEG_PIXELS as usize);
    let data = decoder.decode().map_err(|e| err(decode_failure(e)))?;
    let info = decoder
        .info()
        .ok_or_else(|| err("cannot decode: no frame header".to_string()))?;
    let (width, height) = (usize::from(info.width), usize::from(info.height));
    let want = width * height * info.pixel_format.pixel_bytes();
    if data.len() != want || want == 0 {
        return Err(err(format!(
            "decoder returned {} bytes for a {width}×{height} {:?} image, expected {want}",
            data.len(),
            info.pixel_format
        )));
    }
    let pixels = match info.pixel_format {
        PixelFormat::RGB24 => data,
        PixelFormat::L8 => data.iter().flat_map(|&v| [v, v, v]).collect(),
        PixelFormat::L16 => data
            .chunks_exact(2)
            .map(|c| (u16::from_ne_bytes([c[0], c[1]]) >> 8) as u8)
            .flat_map(|v| [v, v, v])
            .collect(),
        // The decoder returns plain CMYK (ink amounts, Adobe's inversion undone).
        PixelFormat::CMYK32 => data
            .chunks_exact(4)
            .flat_map(|p| {
                let k = 255 - u16::from(p[3]);
                let f = |c: u8| ((255 - u16::from(c)) * k / 255) as u8;
                [f(p[0]), f(p[1]), f(p[2])]
            })
            .collect(),
    };
    Ok(RgbImage {
        width,
        height,
        pixels,
    })
}

/// The reason for a decoding failure; an end of file before the end-of-image
/// marker is said to be a truncation.
fn decode_failure(e: jpeg_decoder::Error) -> String {
    match e {
        jpeg_decoder::Error::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "truncated: the file ends before the image does".to_string()
        }
        e => format!("cannot decode: {}", one_line(e)),
    }
}

/// What a JPEG's frame header (SOFn marker segment) says.
#[derive(Debug)]
struct FrameHeader {
    width: u64,
    height: u64,
    /// Huffman-coded (not arithmetic), so every 8 × 8 block of every component
    /// takes at least one bit (the code of its DC difference).
    huffman: bool,
    /// Horizontal and vertical sampling factors (1..=4) of each component.
    sampling: Vec<(u64, u64)>,
    /// Offset of the first byte after the frame header.
    end: usize,
}

impl FrameHeader {
    /// Refuse an empty image, one over [`MAX_JPEG_PIXELS`], and one whose
    /// `file_len`-byte file cannot hold its coded data.
    fn check(&self, file_len: usize) -> Result<(), String> {
        let (w, h) = (self.width, self.height);
        if w == 0 || h == 0 {
            return Err(format!("empty image ({w}×{h})"));
        }
        if w * h > MAX_JPEG_PIXELS {
            return Err(format!(
                "{w}×{h} pixels, more than the {MAX_JPEG_PIXELS} an image may have (damaged header?)"
            ));
        }
        let after = file_len.saturating_sub(self.end) as u64;
        let need = self.min_coded_bits().div_ceil(8);
        if self.huffman && after < need {
            return Err(format!(
                "truncated: a {w}×{h} image needs at least {need} bytes of coded data \
                 but {after} follow its frame header"
            ));
        }
        Ok(())
    }

    /// One bit per 8 × 8 block of each component, whose size follows from its
    /// sampling factors relative to the largest (ITU T.81, A.1.1).
    fn min_coded_bits(&self) -> u64 {
        let hmax = self.sampling.iter().map(|s| s.0).max().unwrap_or(1);
        let vmax = self.sampling.iter().map(|s| s.1).max().unwrap_or(1);
        self.sampling
            .iter()
            .map(|&(sh, sv)| {
                let cols = (self.width * sh).div_ceil(hmax).div_ceil(8);
                let rows = (self.height * sv).div_ceil(vmax).div_ceil(8);
                cols * rows
            })
            .sum()
    }
}

/// Find and read the frame header, walking the marker segments from the start
/// of the image as the decoder does (bytes between segments are skipped up to
/// the next 0xFF; 0xFF fill bytes and stuffed 0xFF00 are not markers).
fn frame_header(bytes: &[u8]) -> Result<FrameHeader, String> {
    let truncated =
        || "cannot decode: the file ends before the frame header (truncated?)".to_string();
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err("cannot decode: not a JPEG (no start-of-image marker)".into());
    }
    let mut pos = 2;
    loop {
        let marker = loop {
            pos += bytes
                .get(pos..)
                .ok_or_else(truncated)?
                .iter()
                .position(|&b| b == 0xFF)
                .ok_or_else(truncated)?;
            pos += bytes[pos..]
                .iter()
                .position(|&b| b != 0xFF)
                .ok_or_else(truncated)?;
            pos += 1;
            match bytes[pos - 1] {
                0x00 => continue,
                m => break m,
            }
        };
        match marker {
            // Standalone markers (TEM, RSTn): no segment follows.
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 | 0xDA => {
                return Err("cannot decode: no frame header before the image data".into())
            }
            _ => {}
        }
        // The segment's length counts its two bytes.
        let len = match bytes.get(pos..pos + 2) {
            Some(&[a, b]) => usize::from(u16::from_be_bytes([a, b])),
            _ => return Err(truncated()),
        };
        if len < 2 {
            return Err(format!("cannot decode: segment length {len} at byte {pos}"));
        }
        let body = bytes.get(pos + 2..pos + len).ok_or_else(truncated)?;
        pos += len;
        // SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC).
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            return parse_sof(body, marker < 0xC8, pos);
        }
    }
}

/// The body of a frame header: precision, height, width, then three bytes per
/// component (id, sampling factors, quantisation table).
fn parse_sof(body: &[u8], huffman: bool, end: usize) -> Result<FrameHeader, String> {
    let bad = |what: &str| format!("cannot decode: frame header {what}");
    let [_precision, h0, h1, w0, w1, n, ref components @ ..] = *body else {
        return Err(bad("too short"));
    };
    let components = components
        .get(..3 * usize::from(n))
        .ok_or_else(|| bad("too short for its components"))?;
    let sampling = components
        .chunks_exact(3)
        .map(|c| (u64::from(c[1] >> 4), u64::from(c[1] & 0x0f)))
        .collect::<Vec<_>>();
    if sampling.is_empty()
        || sampling
            .iter()
            .any(|&(h, v)| !(1..=4).contains(&h) || !(1..=4).contains(&v))
    {
        return Err(bad("has no components or sampling factors outside 1..=4"));
    }
    Ok(FrameHeader {
        width: u64::from(u16::from_be_bytes([w0, w1])),
        height: u64::from(u16::from_be_bytes([h0, h1])),
        huffman,
        sampling,
        end,
    })
}

/// The largest centred square of `image`, resized to `size × size` with
/// [`resize_bilinear`]'s filter, as channels-first f32 in [0, 1] (3 × size × size).
pub fn square_resize(image: &RgbImage, size: usize) -> Vec<f32> {
    let side = image.width.min(image.height);
    let region = Region {
        y0: (image.height - side) / 2,
        x0: (image.width - side) / 2,
        rows: side,
        cols: side,
    };
    let w = image.width;
    resample(3, region, size, size, |ch, y, x| {
        f32::from(image.pixels[(y * w + x) * 3 + ch]) / 255.0
    })
}

/// Resize channels-first images (`channels × rows × cols`, row-major) to
/// `out_rows × out_cols` with a bilinear (triangle) filter on pixel centres.
/// Upscaling is plain bilinear interpolation with edge clamping; downscaling
/// widens the filter by the scale factor so every input pixel contributes (no
/// aliasing), as PIL's `BILINEAR` does. Constant images stay constant and the
/// same size is the identity. Panics if `src.len() != channels * rows * cols`.
pub fn resize_bilinear(
    src: &[f32],
    channels: usize,
    rows: usize,
    cols: usize,
    out_rows: usize,
    out_cols: usize,
) -> Vec<f32> {
    assert_eq!(src.len(), channels * rows * cols, "image size mismatch");
    let region = Region {
        y0: 0,
        x0: 0,
        rows,
        cols,
    };
    resample(channels, region, out_rows, out_cols, |ch, y, x| {
        src[(ch * rows + y) * cols + x]
    })
}

/// A rectangle of the source image.
#[derive(Debug, Clone, Copy)]
struct Region {
    y0: usize,
    x0: usize,
    rows: usize,
    cols: usize,
}

/// For each output index along one axis: the first source index and the
/// normalised weights of the source pixels from there on.
fn taps(offset: usize, len: usize, out: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = len as f64 / out as f64;
    let support = scale.max(1.0);
    (0..out)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            let lo = ((center - support).floor().max(0.0) as usize).min(len.saturating_sub(1));
            let hi = ((center + support).ceil() as usize).min(len).max(lo + 1);
            let mut w: Vec<f64> = (lo..hi)
                .map(|j| (1.0 - ((j as f64 + 0.5 - center) / support).abs()).max(0.0))
                .collect();
            let sum: f64 = w.iter().sum();
            if sum > 0.0 {
                w.iter_mut().for_each(|v| *v /= sum);
            } else {
                // Cannot happen for len > 0; keep the nearest pixel anyway.
                w.iter_mut().for_each(|v| *v = 0.0);
                w[0] = 1.0;
            }
            (offset + lo, w.into_iter().map(|v| v as f32).collect())
        })
        .collect()
}

/// Separable resampling of `region` to `out_rows × out_cols`; `get(ch, y, x)`
/// reads the source at absolute coordinates.
fn resample(
    channels: usize,
    region: Region,
    out_rows: usize,
    out_cols: usize,
    get: impl Fn(usize, usize, usize) -> f32,
) -> Vec<f32> {
    let mut out = vec![0f32; channels * out_rows * out_cols];
    if region.rows == 0 || region.cols == 0 || out.is_empty() {
        return out;
    }
    let tx = taps(region.x0, region.cols, out_cols);
    let ty = taps(0, region.rows, out_rows);
    // Horizontal pass over the region's rows: tmp[ch][y][ox].
    let mut tmp = vec![0f32; channels * region.rows * out_cols];
    for ch in 0..channels {
        for y in 0..region.rows {
            let row = &mut tmp[(ch * region.rows + y) * out_cols..][..out_cols];
            for (o, (start, w)) in row.iter_mut().zip(&tx) {
                *o = w
                    .iter()
                    .enumerate()
                    .map(|(k, &wk)| wk * get(ch, region.y0 + y, start + k))
                    .sum();
            }
        }
    }
    // Vertical pass.
    for ch in 0..channels {
        let plane = &tmp[ch * region.rows * out_cols..][..region.rows * out_cols];
        for (oy, (start, w)) in ty.iter().enumerate() {
            let dst = &mut out[(ch * out_rows + oy) * out_cols..][..out_cols];
            for (k, &wk) in w.iter().enumerate() {
                let src = &plane[(start + k) * out_cols..][..out_cols];
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d += wk * s;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    #[test]
    fn same_size_is_identity() {
        let src: Vec<f32> = (0..2 * 3 * 4).map(|i| i as f32 / 24.0).collect();
        assert!(close(&resize_bilinear(&src, 2, 3, 4, 3, 4), &src));
    }

    #[test]
    fn constant_stays_constant() {
        let src = vec![0.3f32; 3 * 7 * 5];
        for (r, c) in [(2, 2), (14, 3), (5, 10), (1, 1)] {
            let out = resize_bilinear(&src, 3, 7, 5, r, c);
            assert_eq!(out.len(), 3 * r * c);
            assert!(out.iter().all(|&v| (v - 0.3).abs() < 1e-6), "{r}x{c}");
        }
    }

    #[test]
    fn upscale_interpolates_between_centres() {
        let out = resize_bilinear(&[0.0, 1.0], 1, 1, 2, 1, 4);
        assert!(close(&out, &[0.0, 0.25, 0.75, 1.0]), "{out:?}");
    }

    #[test]
    fn downscale_keeps_a_linear_ramp_in_the_interior() {
        // A ramp along columns, 12 → 6: interior outputs sit on the ramp.
        let src: Vec<f32> = (0..12).map(|x| x as f32 + 0.5).collect();
        let out = resize_bilinear(&src, 1, 1, 12, 1, 6);
        for (i, v) in out.iter().enumerate().take(5).skip(1) {
            assert!((v - (2 * i + 1) as f32).abs() < 1e-4, "{out:?}");
        }
        // Downscaling by 2 averages: a 2-periodic pattern becomes flat.
        let stripes: Vec<f32> = (0..12).map(|x| (x % 2) as f32).collect();
        let flat = resize_bilinear(&stripes, 1, 1, 12, 1, 6);
        assert!(
            flat[1..5].iter().all(|&v| (v - 0.5).abs() < 1e-5),
            "{flat:?}"
        );
    }

    #[test]
    fn square_resize_crops_the_centre() {
        // 4 wide, 2 high: the centre square is columns 1..3.
        let mut pixels = Vec::new();
        for _y in 0..2 {
            for x in 0..4u8 {
                pixels.extend([x * 60, 0, 255]);
            }
        }
        let img = RgbImage {
            width: 4,
            height: 2,
            pixels,
        };
        let out = square_resize(&img, 2);
        let r = [60.0 / 255.0, 120.0 / 255.0];
        assert!(close(&out[0..4], &[r[0], r[1], r[0], r[1]]), "{out:?}");
        assert!(close(&out[4..8], &[0.0; 4]));
        assert!(close(&out[8..12], &[1.0; 4]));
    }
}
