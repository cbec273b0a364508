//! The CPU twin of a whole training step: the same layers, loss and optimizer as the GPU
//! graph, each layer's own CPU twin in f64. The oracle of the whole-model parity tests.

use super::layer::Layer;
use super::layers::CpuCtx;
use super::model::{Model, Optimizer};
use crate::error::Result;
use crate::ops::loss::{self, Loss};
use crate::ops::optim;

pub struct Reference {
    layers: Vec<Layer>,
    shapes: Vec<Vec<usize>>,
    loss: Loss,
    optimizer: Optimizer,
    seed: u64,
    /// Per layer: its parameters, in the order of its `params`.
    params: Vec<Vec<Vec<f64>>>,
    /// Per parameter tensor, in the order of `params` flattened: optimizer slots.
    state: Vec<Vec<Vec<f64>>>,
    step: u32,
}

impl Reference {
    /// A twin of `model` in its current state (weights and optimizer step; optimizer slots as they start).
    pub fn new(model: &Model) -> Result<Reference> {
        let weights = model.weights()?;
        let mut w = weights.into_iter();
        let params: Vec<Vec<Vec<f64>>> = model
            .params
            .iter()
            .map(|layer| layer.iter().map(|_| w.next().unwrap().iter().map(|&v| f64::from(v)).collect()).collect())
            .collect();
        let (slots, start) = (model.compile.optimizer.slots().len(), model.compile.optimizer.slot_start());
        let state = params.iter().flatten().map(|p| vec![vec![f64::from(start); p.len()]; slots]).collect();
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

    fn ctx(&self, i: usize, batch: usize) -> CpuCtx<'_> {
        CpuCtx {
            batch,
            index: i,
            input_shape: &self.shapes[i],
            params: &self.params[i],
            seed: self.seed,
            step: self.step,
        }
    }

    /// One training step on a full batch: x [batch, input], targets [batch, outputs].
    pub fn train_step(&mut self, x: &[f64], targets: &[f64], batch: usize) {
        let values = self.forward(x, batch);
        let out = self.shapes.last().unwrap()[0];
        let mut dy = loss::cpu::forward(self.loss, out, values.last().unwrap(), targets, batch).dx;
        let mut grads: Vec<Vec<Vec<f64>>> = vec![Vec::new(); self.layers.len()];
        for i in (0..self.layers.len()).rev() {
            let ctx = self.ctx(i, batch);
            let (dx, g) = self.layers[i].kind_impl().cpu_backward(&ctx, &values[i], &values[i + 1], dy);
            (dy, grads[i]) = (dx, g);
        }
        for (j, (p, g)) in self.params.iter_mut().flatten().zip(grads.iter().flatten()).enumerate() {
            let state = &mut self.state[j];
            match &self.optimizer {
                Optimizer::Sgd(cfg) => optim::cpu::sgd(cfg, p, g, &mut state[0]),
                Optimizer::Adam(cfg) => {
                    let (m, v) = state.split_at_mut(1);
                    optim::cpu::adam(cfg, p, g, &mut m[0], &mut v[0], self.step)
                }
                Optimizer::RmsProp(cfg) => {
                    let (velocity, rest) = state.split_first_mut().expect("RMSprop keeps a velocity");
                    let (mut rest, mut unused) = (rest.iter_mut(), (Vec::new(), Vec::new()));
                    let momentum = if cfg.momentum > 0.0 { rest.next().unwrap() } else { &mut unused.0 };
                    let average = if cfg.centered { rest.next().unwrap() } else { &mut unused.1 };
                    optim::cpu::rmsprop(cfg, p, g, velocity, momentum, average)
                }
                Optimizer::Adagrad(cfg) => optim::cpu::adagrad(cfg, p, g, &mut state[0]),
            }
        }
        self.step += 1;
    }

    /// Every layer's output in training mode: values[0] = x, values[i + 1] = layer i's output.
    fn forward(&self, x: &[f64], batch: usize) -> Vec<Vec<f64>> {
        let mut values = vec![x.to_vec()];
        for (i, layer) in self.layers.iter().enumerate() {
            let y = layer.kind_impl().cpu_forward(&self.ctx(i, batch), values.last().unwrap());
            values.push(y);
        }
        values
    }
}
