//! The CPU twin of a whole training step: the same layers, loss and optimizer as the GPU
//! graph, built from the ops' CPU twins in f64. The oracle of the whole-model parity tests.

use super::layer::{Act, Layer};
use super::model::{Model, Optimizer};
use super::network::{dropout_seed, is_view};
use crate::error::Result;
use crate::ops::conv2d::{self, Conv2dShape};
use crate::ops::loss::{self, Loss};
use crate::ops::matmul::{self, MatmulShape};
use crate::ops::pool::{self, PoolKind, PoolShape};
use crate::ops::{Activation, activation, dropout, optim};

pub struct Reference {
    layers: Vec<Layer>,
    shapes: Vec<Vec<usize>>,
    loss: Loss,
    optimizer: Optimizer,
    seed: u64,
    /// Per layer: kernel and bias (or nothing).
    params: Vec<Vec<Vec<f64>>>,
    /// Per parameter tensor, in the order of `params` flattened: optimizer slots.
    state: Vec<Vec<Vec<f64>>>,
    step: u32,
}

fn conv_shape(layer: &Layer, input: &[usize], batch: usize) -> Conv2dShape {
    let Layer::Conv2D { filters, kernel, strides, padding, .. } = layer else { unreachable!() };
    Conv2dShape {
        n: batch,
        h: input[0],
        w: input[1],
        c_in: input[2],
        c_out: *filters,
        kh: kernel.0,
        kw: kernel.1,
        stride_h: strides.0,
        stride_w: strides.1,
        padding: *padding,
    }
}

fn pool_shape(layer: &Layer, input: &[usize], batch: usize) -> (PoolKind, PoolShape) {
    let (kind, pool, strides, padding) = match layer {
        Layer::MaxPooling2D { pool, strides, padding } => (PoolKind::Max, pool, strides, padding),
        Layer::AveragePooling2D { pool, strides, padding } => (PoolKind::Average, pool, strides, padding),
        _ => unreachable!(),
    };
    let shape = PoolShape {
        n: batch,
        h: input[0],
        w: input[1],
        c: input[2],
        pool_h: pool.0,
        pool_w: pool.1,
        stride_h: strides.0,
        stride_w: strides.1,
        padding: *padding,
    };
    (kind, shape)
}

/// y = act(z) for a layer activation, softmax row-wise over `cols`.
fn activate(act: Act, z: Vec<f64>, cols: usize) -> Vec<f64> {
    match act.elementwise() {
        Some(Activation::Linear) => z,
        Some(a) => activation::cpu::forward(a, &z),
        None => activation::cpu::softmax_forward(&z, cols),
    }
}

/// dz from dy through the activation whose output is y.
fn deactivate(act: Act, y: &[f64], dy: &[f64], cols: usize) -> Vec<f64> {
    match act.elementwise() {
        Some(a) => activation::cpu::backward(a, y, dy),
        None => activation::cpu::softmax_backward(y, dy, cols),
    }
}

impl Reference {
    /// A twin of `model` in its current state (weights and optimizer step; zeroed optimizer slots).
    pub fn new(model: &Model) -> Result<Reference> {
        let weights = model.weights()?;
        let mut w = weights.into_iter();
        let params: Vec<Vec<Vec<f64>>> = model
            .params
            .iter()
            .map(|layer| layer.iter().map(|_| w.next().unwrap().iter().map(|&v| f64::from(v)).collect()).collect())
            .collect();
        let slots = match model.compile.optimizer {
            Optimizer::Sgd(_) => 1,
            Optimizer::Adam(_) => 2,
        };
        let state = params.iter().flatten().map(|p| vec![vec![0.0; p.len()]; slots]).collect();
        Ok(Reference {
            layers: (0..model.spec.layers.len()).map(|i| model.effective_layer(i)).collect(),
            shapes: model.shapes.clone(),
            loss: model.head.loss,
            optimizer: model.compile.optimizer,
            seed: model.compile.seed,
            params,
            state,
            step: model.iterations()?,
        })
    }

    /// Every parameter tensor, in layer order (kernel, then bias).
    pub fn weights(&self) -> Vec<&[f64]> {
        self.params.iter().flatten().map(|p| &p[..]).collect()
    }

    /// One training step on a full batch: x [batch, input], targets [batch, outputs].
    pub fn train_step(&mut self, x: &[f64], targets: &[f64], batch: usize) {
        let values = self.forward(x, batch);
        let out = self.shapes.last().unwrap()[0];
        let mut dy = loss::cpu::forward(self.loss, out, values.last().unwrap(), targets, batch).dx;
        let mut grads: Vec<Vec<Vec<f64>>> = vec![Vec::new(); self.layers.len()];
        for i in (0..self.layers.len()).rev() {
            let (layer, input, x, y) = (&self.layers[i], &self.shapes[i], &values[i], &values[i + 1]);
            let params = &self.params[i];
            dy = match layer {
                Layer::Dense { units, activation: act } => {
                    let k = input[0];
                    let dz = deactivate(*act, y, &dy, *units);
                    let dw = MatmulShape { m: k, n: *units, k: batch, trans_a: true, trans_b: false };
                    let dx = MatmulShape { m: batch, n: k, k: *units, trans_a: false, trans_b: true };
                    grads[i] = vec![
                        matmul::cpu::matmul(dw, x, &dz, None, Activation::Linear),
                        matmul::cpu::bias_grad(batch, *units, &dz),
                    ];
                    matmul::cpu::matmul(dx, &dz, &params[0], None, Activation::Linear)
                }
                Layer::Conv2D { filters, activation: act, .. } => {
                    let shape = conv_shape(layer, input, batch);
                    let dz = deactivate(*act, y, &dy, *filters);
                    grads[i] = vec![
                        conv2d::cpu::backward_weight(&shape, x, &dz),
                        matmul::cpu::bias_grad(dz.len() / filters, *filters, &dz),
                    ];
                    conv2d::cpu::backward_input(&shape, &dz, &params[0])
                }
                Layer::MaxPooling2D { .. } | Layer::AveragePooling2D { .. } => {
                    let (kind, shape) = pool_shape(layer, input, batch);
                    pool::cpu::backward(kind, &shape, x, &dy)
                }
                Layer::Dropout { rate } => dropout::cpu::backward(*rate, dropout_seed(self.seed, i), self.step, &dy),
                l if is_view(l) => dy,
                Layer::Activation(act) => deactivate(*act, y, &dy, *input.last().unwrap()),
                _ => unreachable!("every layer kind is handled above"),
            };
        }
        for (j, (p, g)) in self.params.iter_mut().flatten().zip(grads.iter().flatten()).enumerate() {
            let state = &mut self.state[j];
            match &self.optimizer {
                Optimizer::Sgd(cfg) => optim::cpu::sgd(cfg, p, g, &mut state[0]),
                Optimizer::Adam(cfg) => {
                    let (m, v) = state.split_at_mut(1);
                    optim::cpu::adam(cfg, p, g, &mut m[0], &mut v[0], self.step)
                }
            }
        }
        self.step += 1;
    }

    /// Every layer's output in training mode: values[0] = x, values[i + 1] = layer i's output.
    fn forward(&self, x: &[f64], batch: usize) -> Vec<Vec<f64>> {
        let mut values = vec![x.to_vec()];
        for (i, layer) in self.layers.iter().enumerate() {
            let (input, x, params) = (&self.shapes[i], values.last().unwrap(), &self.params[i]);
            let y = match layer {
                Layer::Dense { units, activation: act } => {
                    let z = matmul::cpu::matmul(
                        MatmulShape::new(batch, *units, input[0]),
                        x,
                        &params[0],
                        Some(&params[1]),
                        Activation::Linear,
                    );
                    activate(*act, z, *units)
                }
                Layer::Conv2D { filters, activation: act, .. } => {
                    let shape = conv_shape(layer, input, batch);
                    let z = conv2d::cpu::forward(&shape, x, &params[0], Some(&params[1]), Activation::Linear);
                    activate(*act, z, *filters)
                }
                Layer::MaxPooling2D { .. } | Layer::AveragePooling2D { .. } => {
                    let (kind, shape) = pool_shape(layer, input, batch);
                    pool::cpu::forward(kind, &shape, x).0
                }
                Layer::Dropout { rate } => dropout::cpu::forward(*rate, dropout_seed(self.seed, i), self.step, x),
                Layer::Activation(act) => activate(*act, x.clone(), *input.last().unwrap()),
                Layer::Flatten => x.clone(),
            };
            values.push(y);
        }
        values
    }
}
