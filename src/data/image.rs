//! Decoding JPEGs to RGB and resizing: the pixel work behind image-folder
//! datasets (Imagenette). Pure Rust; never panics on bad input.

use std::path::Path;

use jpeg_decoder::PixelFormat;

use super::error::{invalid, one_line, DataError};

const WHAT: &str = "JPEG image";

/// An 8-bit RGB image, rows top to bottom, pixels interleaved (`r, g, b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    /// `height * width * 3` bytes.
    pub pixels: Vec<u8>,
}

/// Decode a baseline or progressive JPEG; grayscale is repeated into three
/// channels and CMYK converted to RGB. `path` names the file in errors.
pub fn decode_jpeg(path: &Path, bytes: &[u8]) -> Result<RgbImage, DataError> {
    let err = |reason: String| invalid(path, WHAT, reason);
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    let data = decoder
        .decode()
        .map_err(|e| err(format!("cannot decode: {}", one_line(e))))?;
    let info = decoder
        .info()
        .ok_or_else(|| err("cannot decode: no frame header".to_string()))?;
    let (width, height) = (usize::from(info.width), usize::from(info.height));
    let n = width * height;
    if n == 0 {
        return Err(err(format!("empty image ({width}×{height})")));
    }
    let want = n * info.pixel_format.pixel_bytes();
    if data.len() != want {
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
