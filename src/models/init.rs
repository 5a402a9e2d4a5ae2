//! Seeded weight initialisation shared by every model.

use dfdx::nn::modules::Linear;
use dfdx::prelude::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

/// He-uniform (Keras `he_uniform`, the paper's initializer): weights drawn
/// from U(-limit, limit) with `limit = sqrt(6 / fan_in)`; biases zero.
/// Draws from `rng` on the host, so the same seed gives the same weights on
/// every device.
pub fn he_uniform_linear<const I: usize, const O: usize, D: Device<f32>>(
    dev: &D,
    rng: &mut SmallRng,
) -> Linear<I, O, f32, D> {
    let limit = (6.0 / I as f64).sqrt() as f32;
    let w: Vec<f32> = (0..I * O).map(|_| rng.gen_range(-limit..limit)).collect();
    let mut weight = dev.zeros();
    weight.copy_from(&w);
    Linear {
        weight,
        bias: dev.zeros(),
    }
}

/// The model-init RNG for a seed (separate stream from data shuffling).
pub fn model_rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed ^ 0x5EED_0F14_17AA)
}
