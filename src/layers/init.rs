//! Seeded weight initialisation shared by every model.

use dfdx::prelude::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

/// A tensor of `shape` drawn He-uniform (Keras `he_uniform`, the paper's
/// initializer: U(-limit, limit), `limit = sqrt(6 / fan_in)`) for a layer with
/// `fan_in` inputs, values drawn in row-major order on the host, so the same
/// seed gives the same weights on every device.
pub fn he_uniform<S: Shape, D: Device<f32>>(
    dev: &D,
    shape: S,
    fan_in: usize,
    rng: &mut impl Rng,
) -> Tensor<S, f32, D> {
    let limit = (6.0 / fan_in as f64).sqrt() as f32;
    let w: Vec<f32> = (0..shape.num_elements())
        .map(|_| rng.gen_range(-limit..limit))
        .collect();
    dev.tensor_from_vec(w, shape)
}

/// The model-init RNG for a seed (separate stream from data shuffling).
pub fn model_rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed ^ 0x5EED_0F14_17AA)
}
