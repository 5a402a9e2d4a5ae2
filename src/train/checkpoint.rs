//! Checkpoints in safetensors: model parameters by name, the optimizer state,
//! and a JSON metadata entry with the training progress. Written atomically.

use std::collections::HashMap;
use std::path::Path;

use ::safetensors::tensor::{
    serialize, Dtype as StDtype, SafeTensorError, SafeTensors, TensorView,
};
use anyhow::{bail, Context, Result};
use dfdx::prelude::*;

use crate::layers::params::{ParamVisitor, Params};
pub use crate::util::write_atomic;

/// Name → flat f32 values of every parameter, in walk order.
pub fn export_params<M: Params<f32, D>, D: Device<f32>>(model: &mut M) -> Vec<(String, Vec<f32>)> {
    struct Export(Vec<(String, Vec<f32>)>);
    impl<D: Device<f32>> ParamVisitor<f32, D> for Export {
        fn visit<S: Shape>(&mut self, name: &str, t: &mut Tensor<S, f32, D>) {
            self.0.push((name.to_string(), t.as_vec()));
        }
        fn visit_buffer<S: Shape>(&mut self, name: &str, t: &mut Tensor<S, f32, D>) {
            <Self as ParamVisitor<f32, D>>::visit(self, name, t)
        }
    }
    let mut e = Export(Vec::new());
    model.visit_params("", &mut e);
    e.0
}

/// Overwrites every parameter from `values`; each must be present with the
/// right number of elements.
pub fn import_params<M: Params<f32, D>, D: Device<f32>>(
    model: &mut M,
    values: &HashMap<String, Vec<f32>>,
) -> Result<()> {
    struct Import<'a>(&'a HashMap<String, Vec<f32>>, Option<String>);
    impl<D: Device<f32>> ParamVisitor<f32, D> for Import<'_> {
        fn visit<S: Shape>(&mut self, name: &str, t: &mut Tensor<S, f32, D>) {
            match self.0.get(name) {
                Some(v) if v.len() == t.shape().num_elements() => t.copy_from(v),
                Some(v) => {
                    self.1.get_or_insert(format!(
                        "parameter {name} has {} values, the model needs {}",
                        v.len(),
                        t.shape().num_elements()
                    ));
                }
                None => {
                    self.1.get_or_insert(format!("parameter {name} is missing"));
                }
            }
        }
        fn visit_buffer<S: Shape>(&mut self, name: &str, t: &mut Tensor<S, f32, D>) {
            <Self as ParamVisitor<f32, D>>::visit(self, name, t)
        }
    }
    let mut i = Import(values, None);
    model.visit_params("", &mut i);
    match i.1 {
        Some(e) => bail!("checkpoint does not fit the model: {e}"),
        None => Ok(()),
    }
}

/// Writes `tensors` and `metadata` to `path` via a temp file and a rename, so
/// an interrupted write never leaves a half checkpoint behind.
pub fn save(
    path: &Path,
    tensors: &[(String, Vec<f32>)],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let bytes: Vec<(String, Vec<u8>)> = tensors
        .iter()
        .map(|(n, v)| (n.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views = bytes
        .iter()
        .zip(tensors)
        .map(|((n, b), (_, v))| Ok((n.clone(), TensorView::new(StDtype::F32, vec![v.len()], b)?)))
        .collect::<Result<Vec<_>, SafeTensorError>>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let data = serialize(views, &Some(metadata)).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    write_atomic(path, &data)
}

/// Tensors by name and string metadata of a checkpoint.
pub type Contents = (HashMap<String, Vec<f32>>, HashMap<String, String>);

/// Reads the tensors and metadata written by [`save`].
pub fn load(path: &Path) -> Result<Contents> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{}: cannot read checkpoint", path.display()))?;
    let bad =
        |e: SafeTensorError| anyhow::anyhow!("{}: not a valid checkpoint ({e:?})", path.display());
    let st = SafeTensors::deserialize(&bytes).map_err(bad)?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(bad)?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != StDtype::F32 {
            bail!("{}: tensor {name:?} is not f32", path.display());
        }
        let v = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.insert(name, v);
    }
    Ok((tensors, meta.metadata().clone().unwrap_or_default()))
}
