//! A stack of layers with an input shape: shapes, parameter counts, Keras-style summary.

use super::layer::Layer;
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sequential {
    pub input_shape: Vec<usize>,
    pub layers: Vec<Layer>,
}

impl Sequential {
    pub fn new(input_shape: &[usize]) -> Sequential {
        Sequential { input_shape: input_shape.to_vec(), layers: Vec::new() }
    }

    /// Appends a layer, as Keras's `model.add`.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: Layer) -> Sequential {
        self.layers.push(layer);
        self
    }

    /// Per-sample shapes: the input, then each layer's output. Fails naming the first bad layer.
    pub fn shapes(&self) -> Result<Vec<Vec<usize>>> {
        if self.input_shape.is_empty() || self.input_shape.contains(&0) {
            return Err(Error::Invalid(format!("input shape {:?} has an empty dimension", self.input_shape)));
        }
        if self.layers.is_empty() {
            return Err(Error::Invalid("the model has no layers".into()));
        }
        let mut shapes = vec![self.input_shape.clone()];
        for (i, layer) in self.layers.iter().enumerate() {
            let next = layer
                .output_shape(shapes.last().unwrap())
                .map_err(|e| Error::Invalid(format!("layer {i} ({}): {e}", layer.kind())))?;
            shapes.push(next);
        }
        if shapes.last().unwrap().len() != 1 {
            return Err(Error::Invalid(format!(
                "the output shape {:?} is not flat: end with Flatten or Dense",
                shapes.last().unwrap()
            )));
        }
        Ok(shapes)
    }

    /// Width of the output (classes, or targets per sample).
    pub fn output_width(&self) -> Result<usize> {
        Ok(self.shapes()?.last().unwrap()[0])
    }

    pub fn param_count(&self) -> Result<usize> {
        let shapes = self.shapes()?;
        Ok(self
            .layers
            .iter()
            .zip(&shapes)
            .map(|(l, s)| l.param_shapes(s).iter().map(|p| p.iter().product::<usize>()).sum::<usize>())
            .sum())
    }

    /// Keras-style layer names: the kind in lower case, numbered from the second of a kind
    /// (dense, dense_1, conv2d, ...).
    pub fn layer_names(&self) -> Vec<String> {
        let mut counts = std::collections::HashMap::new();
        self.layers
            .iter()
            .map(|layer| {
                let n = counts.entry(layer.kind()).or_insert(0usize);
                let name = match *n {
                    0 => layer.kind().to_lowercase(),
                    k => format!("{}_{k}", layer.kind().to_lowercase()),
                };
                *n += 1;
                name
            })
            .collect()
    }

    /// A table like Keras's `model.summary()`: each layer's output shape and parameter count.
    pub fn summary(&self) -> Result<String> {
        let shapes = self.shapes()?;
        let rule = "=".repeat(66);
        let mut out = format!("{:<30}{:<24}{:>12}\n{rule}\n", "Layer (type)", "Output Shape", "Param #");
        for ((layer, input), name) in self.layers.iter().zip(&shapes).zip(self.layer_names()) {
            let output = layer.output_shape(input)?;
            let shape = format!("(None, {})", output.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "));
            let params: usize = layer.param_shapes(input).iter().map(|p| p.iter().product::<usize>()).sum();
            out += &format!("{:<30}{:<24}{:>12}\n", format!("{name} ({})", layer.kind()), shape, params);
        }
        out += &format!("{rule}\nTotal params: {}\n", self.param_count()?);
        Ok(out)
    }
}
