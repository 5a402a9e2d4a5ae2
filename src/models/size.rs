//! How big a model will be, checked before it is built: a width or depth
//! from a flag (`--depth 100000000`) must end in a one-line refusal, not in
//! an overflow panic or an allocation that takes the machine's memory.

use anyhow::{bail, Result};

/// Copies of the parameters that training holds: the weights, their
/// gradients, RAdam's two moments and Lookahead's slow weights.
const TRAINING_COPIES: u64 = 5;

/// Refuses a model of `params` parameters (`None`: the count overflowed)
/// whose training state does not fit in the memory available now; `what`
/// names it in the error ("an Fnn of width 100 and depth 100000000").
pub fn check_trainable(params: Option<usize>, what: &str) -> Result<()> {
    let Some(bytes) = params.and_then(|p| (p as u64).checked_mul(4 * TRAINING_COPIES)) else {
        bail!("{what} has too many parameters to count");
    };
    if let Some(available) = available_memory() {
        if bytes > available {
            bail!(
                "{what} has {} parameters: about {:.1} GB to train (weights, gradients and optimizer state), more than the {:.1} GB of memory available",
                params.unwrap_or(0),
                bytes as f64 / 1e9,
                available as f64 / 1e9
            );
        }
    }
    Ok(())
}

/// `MemAvailable` of `/proc/meminfo` in bytes (Linux); `None` elsewhere.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Parameters of a dense layer from `inputs` to `outputs` (weights and bias).
pub fn dense_params(inputs: usize, outputs: usize) -> Option<usize> {
    inputs.checked_mul(outputs)?.checked_add(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_and_huge_models_are_refused_small_ones_pass() {
        let err = check_trainable(None, "a net").unwrap_err().to_string();
        assert!(err.contains("too many parameters"), "{err}");
        // 2^60 parameters: 23 EB of training state, more than any machine.
        let err = check_trainable(Some(1 << 60), "a net")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("memory available") || err.contains("too many"),
            "{err}"
        );
        check_trainable(Some(1_000_000), "a net").unwrap();
        assert_eq!(dense_params(784, 100), Some(78_500));
        assert_eq!(dense_params(usize::MAX, 2), None);
    }
}
