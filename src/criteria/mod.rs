//! Per-layer criteria other than the bundle entropy, from the same
//! activations (each layer flattened to `(N, D)`, row-major):
//!
//! - [`batch_entropy`]: the follow-up paper's batch entropy (Peer et al.,
//!   TMLR 2022, arXiv 2208.01134), how much a layer's outputs still vary
//!   across a batch; zero when every sample maps to the same output.
//! - [`similarity`]: ShortGPT's block influence (1 - cos between a layer's
//!   input and output) and the angular distance of Gromov et al. (2024)
//!   between layers l and l + n.
//!
//! Host functions take `f32` values and accumulate in `f64`;
//! [`batch_entropy::batch_entropy_tensor`] is the same definition in `f32`
//! tensor ops on any dfdx device, with or without a tape (the regulariser
//! differentiates through it).

pub mod batch_entropy;
pub mod similarity;

pub use batch_entropy::{batch_entropy, batch_entropy_tensor};
pub use similarity::{angular_distance, block_influence, mean_cosine};

/// `values.len() / n` after checking the layout; `what` names the array.
fn row_len(values: &[f32], n: usize, what: &str) -> anyhow::Result<usize> {
    if n == 0 || !values.len().is_multiple_of(n) {
        anyhow::bail!(
            "{what}: {} values do not split into {n} samples",
            values.len()
        );
    }
    Ok(values.len() / n)
}
