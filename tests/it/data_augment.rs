//! Augmentation (§3.1): determinism under a seed, flip, crop, brightness, normalisation.

use conflicting_bundles::data::{augment, normalize, AugmentConfig, DatasetKind, ImageShape};

const SHAPE: ImageShape = ImageShape {
    channels: 1,
    rows: 28,
    cols: 28,
};

/// `n` distinct, asymmetric images.
fn images(n: usize) -> Vec<f32> {
    (0..n * SHAPE.len())
        .map(|i| ((i * 7919) % 251) as f32 / 251.0)
        .collect()
}

fn only(config: impl FnOnce(&mut AugmentConfig)) -> AugmentConfig {
    let mut c = AugmentConfig::identity();
    config(&mut c);
    c
}

#[test]
fn same_seed_same_output_different_seed_differs() {
    let config = AugmentConfig::train(DatasetKind::FashionMnist);
    let (mut a, mut b, mut c) = (images(16), images(16), images(16));
    augment(&mut a, SHAPE, config, 42);
    augment(&mut b, SHAPE, config, 42);
    augment(&mut c, SHAPE, config, 43);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(a, images(16));
}

#[test]
fn identity_config_changes_nothing() {
    let mut a = images(4);
    augment(&mut a, SHAPE, AugmentConfig::identity(), 1);
    assert_eq!(a, images(4));
}

#[test]
fn flip_off_keeps_orientation_flip_on_mirrors_some() {
    for seed in 0..8 {
        let mut a = images(8);
        augment(&mut a, SHAPE, only(|c| c.flip = false), seed);
        assert_eq!(a, images(8));
    }
    let original = images(64);
    let mut a = original.clone();
    augment(&mut a, SHAPE, only(|c| c.flip = true), 5);
    let n = SHAPE.len();
    let mut flipped = 0;
    for (out, img) in a.chunks(n).zip(original.chunks(n)) {
        let mirrored: Vec<f32> = img
            .chunks(SHAPE.cols)
            .flat_map(|row| row.iter().rev().copied())
            .collect();
        if out == mirrored.as_slice() {
            flipped += 1;
        } else {
            assert_eq!(out, img, "neither kept nor mirrored");
        }
    }
    assert!((16..=48).contains(&flipped), "{flipped} of 64 flipped");
    assert!(!AugmentConfig::train(DatasetKind::Mnist).flip);
    assert!(AugmentConfig::train(DatasetKind::FashionMnist).flip);
}

#[test]
fn crop_shifts_content_within_the_padding() {
    let (cy, cx) = (14usize, 10usize);
    let mut shifts = std::collections::HashSet::new();
    for seed in 0..64 {
        let mut img = vec![0.0; SHAPE.len()];
        img[cy * SHAPE.cols + cx] = 1.0;
        augment(&mut img, SHAPE, only(|c| c.pad = 4), seed);
        let hot: Vec<usize> = (0..img.len()).filter(|&i| img[i] != 0.0).collect();
        assert_eq!(hot.len(), 1, "pixel lost or duplicated");
        assert_eq!(img[hot[0]], 1.0);
        let (y, x) = (hot[0] / SHAPE.cols, hot[0] % SHAPE.cols);
        let (dy, dx) = (y as isize - cy as isize, x as isize - cx as isize);
        assert!(dy.abs() <= 4 && dx.abs() <= 4, "shift ({dy}, {dx})");
        shifts.insert((dy, dx));
    }
    assert!(shifts.len() > 10, "only {} distinct shifts", shifts.len());
}

#[test]
fn crop_pads_with_zeros_and_keeps_channels_apart() {
    let shape = ImageShape {
        channels: 3,
        rows: 5,
        cols: 6,
    };
    let mut img: Vec<f32> = (0..shape.len()).map(|i| 1.0 + (i / 30) as f32).collect();
    augment(&mut img, shape, only(|c| c.pad = 2), 9);
    for (ch, plane) in img.chunks(30).enumerate() {
        assert!(plane.iter().all(|&v| v == 0.0 || v == 1.0 + ch as f32));
    }
}

#[test]
fn brightness_adds_one_bounded_delta_per_image() {
    let original = images(32);
    let mut a = original.clone();
    augment(&mut a, SHAPE, only(|c| c.brightness = 0.25), 3);
    let n = SHAPE.len();
    let mut deltas = Vec::new();
    for (out, img) in a.chunks(n).zip(original.chunks(n)) {
        let d = out[0] - img[0];
        assert!(d.abs() <= 0.25 + 1e-6, "delta {d}");
        assert!(out.iter().zip(img).all(|(o, i)| (o - i - d).abs() < 1e-5));
        deltas.push(d);
    }
    assert!(deltas.iter().any(|&d| d > 0.0) && deltas.iter().any(|&d| d < 0.0));
}

#[test]
fn normalisation_uses_dataset_statistics() {
    let mut a = vec![0.0, 0.1307, 1.0];
    augment(
        &mut a,
        SHAPE_1X3,
        AugmentConfig::eval(DatasetKind::Mnist),
        0,
    );
    let mut b = vec![0.0, 0.1307, 1.0];
    normalize(&mut b, 0.1307, 0.3081);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-6);
    }
    assert!((b[0] + 0.1307 / 0.3081).abs() < 1e-5 && b[1].abs() < 1e-6);
}

const SHAPE_1X3: ImageShape = ImageShape {
    channels: 1,
    rows: 1,
    cols: 3,
};
