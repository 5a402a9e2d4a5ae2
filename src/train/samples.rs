//! Training data in host memory, as the trainer consumes it.

use crate::data::{Dataset, ImageShape};

/// Rows of `x` (row-major, `dim` features each) with labels `y`.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    pub x: Vec<f32>,
    pub y: Vec<usize>,
    /// Image layout of a row, when rows are images (for augmentation).
    pub image: Option<ImageShape>,
}

impl Samples {
    pub fn new(x: Vec<f32>, y: Vec<usize>) -> Self {
        Self { x, y, image: None }
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Features per sample.
    pub fn dim(&self) -> usize {
        self.x.len().checked_div(self.y.len()).unwrap_or(0)
    }

    /// Copies rows `idx` into `x` and `y` (cleared first).
    pub fn gather_into(&self, idx: &[usize], x: &mut Vec<f32>, y: &mut Vec<usize>) {
        let d = self.dim();
        x.clear();
        y.clear();
        for &i in idx {
            x.extend_from_slice(&self.x[i * d..(i + 1) * d]);
            y.push(self.y[i]);
        }
    }

    /// Standardises every value: `(x - mean) / std` (the paper normalizes inputs).
    pub fn normalized(mut self, mean: f32, std: f32) -> Self {
        crate::data::normalize(&mut self.x, mean, std);
        self
    }

    /// The first `n` samples (or all, if fewer).
    pub fn take(&self, n: usize) -> Samples {
        let n = n.min(self.len());
        Samples {
            x: self.x[..n * self.dim()].to_vec(),
            y: self.y[..n].to_vec(),
            image: self.image,
        }
    }
}

impl From<&Dataset> for Samples {
    fn from(d: &Dataset) -> Self {
        Samples {
            x: d.images.clone(),
            y: d.labels.iter().map(|&l| l as usize).collect(),
            image: Some(d.shape()),
        }
    }
}
