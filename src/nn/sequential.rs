//! A stack of layers with an input shape: shapes, parameter counts, Keras-style summary.

use super::layer::Layer;
use super::layers::checked_len;
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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
        if checked_len(&self.input_shape).is_none() {
            return Err(Error::Invalid(format!("input shape {:?} is too large", self.input_shape)));
        }
        if self.layers.is_empty() {
            return Err(Error::Invalid("the model has no layers".into()));
        }
        let mut shapes = vec![self.input_shape.clone()];
        for (i, layer) in self.layers.iter().enumerate() {
            let bad = |e: String| Error::Invalid(format!("layer {i} ({}): {e}", layer.kind()));
            let input = shapes.last().unwrap();
            let next = layer.output_shape(input).map_err(|e| bad(e.to_string()))?;
            if checked_len(&next).is_none() {
                return Err(bad(format!("an output of shape {next:?} per sample is too large")));
            }
            if let Some(p) = layer.params(input).iter().find(|p| checked_len(&p.shape).is_none()) {
                return Err(bad(format!("its {} of shape {:?} is too large", p.name, p.shape)));
            }
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
        Ok(self.layers.iter().zip(&shapes).map(|(l, s)| l.params(s).iter().map(|p| p.len()).sum::<usize>()).sum())
    }

    /// Keras's layer names: the class name in snake case, numbered from the second of a kind
    /// (dense, dense_1, conv2d, max_pooling2d, ...).
    pub fn layer_names(&self) -> Vec<String> {
        let mut counts = std::collections::HashMap::new();
        self.layers
            .iter()
            .map(|layer| {
                let n = counts.entry(layer.kind()).or_insert(0usize);
                let name = match *n {
                    0 => snake_case(layer.kind()),
                    k => format!("{}_{k}", snake_case(layer.kind())),
                };
                *n += 1;
                name
            })
            .collect()
    }

    /// A table like Keras's `model.summary()`: each layer's output shape and parameter count.
    pub fn summary(&self) -> Result<String> {
        let shapes = self.shapes()?;
        let names: Vec<String> =
            self.layers.iter().zip(self.layer_names()).map(|(l, name)| format!("{name} ({})", l.kind())).collect();
        // The first column fits the longest name, with a space after it.
        let width = names.iter().map(|n| n.chars().count() + 1).max().unwrap_or(0).max(30);
        let rule = "=".repeat(width + 36);
        let mut out = format!("{:<width$}{:<24}{:>12}\n{rule}\n", "Layer (type)", "Output Shape", "Param #");
        for ((layer, input), name) in self.layers.iter().zip(&shapes).zip(names) {
            let output = layer.output_shape(input)?;
            let shape = format!("(None, {})", output.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "));
            let params: usize = layer.params(input).iter().map(|p| p.len()).sum();
            out += &format!("{name:<width$}{shape:<24}{params:>12}\n");
        }
        let trainable: usize = self
            .layers
            .iter()
            .zip(&shapes)
            .flat_map(|(l, input)| l.params(input))
            .filter(|p| p.trainable)
            .map(|p| p.len())
            .sum();
        let total = self.param_count()?;
        out += &format!("{rule}\nTotal params: {total}\nTrainable params: {trainable}\n");
        out += &format!("Non-trainable params: {}\n", total - trainable);
        Ok(out)
    }
}

/// A class name in snake case as Keras's `to_snake_case` makes it: an underscore before each
/// capital that starts a lower-case run, and between a lower-case letter and a capital
/// (`MaxPooling2D` → `max_pooling2d`, `Conv2D` → `conv2d`).
fn snake_case(class: &str) -> String {
    let chars: Vec<char> = class.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let starts_word = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
        let after_lower = i > 0 && chars[i - 1].is_ascii_lowercase();
        if c.is_ascii_uppercase() && i > 0 && (starts_word || after_lower) {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn layer_names_are_keras_snake_case() {
        for (class, name) in [
            ("Dense", "dense"),
            ("Conv2D", "conv2d"),
            ("MaxPooling2D", "max_pooling2d"),
            ("AveragePooling2D", "average_pooling2d"),
            ("GlobalAveragePooling2D", "global_average_pooling2d"),
            ("BatchNormalization", "batch_normalization"),
            ("LeakyReLU", "leaky_re_lu"),
        ] {
            assert_eq!(snake_case(class), name);
        }
    }
}
