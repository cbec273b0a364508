//! The CPU twin of a whole training step: the same layers, loss and optimizer as the GPU
//! graph, each layer's own CPU twin in f64. The oracle of the whole-model parity tests.

use super::layer::{Act, Layer};
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
    /// Per layer: its trainable parameters, in the order of its `params`.
    params: Vec<Vec<Vec<f64>>>,
    /// Per layer: its non-trainable tensors.
    state: Vec<Vec<Vec<f64>>>,
    /// Per parameter tensor, in the order of `params` flattened: optimizer slots.
    slots: Vec<Vec<Vec<f64>>>,
    head: Option<Act>,
    step: u32,
}

impl Reference {
    /// A twin of `model` in its current state (weights and optimizer step; optimizer slots as they start).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(model: &Model) -> Result<Reference> {
        pollster::block_on(Reference::new_async(model))
    }

    /// `new`, awaited.
    pub async fn new_async(model: &Model) -> Result<Reference> {
        let weights = model.weights_async().await?;
        let mut w = weights.into_iter();
        let params: Vec<Vec<Vec<f64>>> = model
            .params
            .iter()
            .map(|layer| layer.iter().map(|_| w.next().unwrap().iter().map(|&v| f64::from(v)).collect()).collect())
            .collect();
        let (slots, start) = (model.compile.optimizer.slots().len(), model.compile.optimizer.slot_start());
        let slots = params.iter().flatten().map(|p| vec![vec![f64::from(start); p.len()]; slots]).collect();
        let mut frozen =
            model.non_trainable_weights_async().await?.into_iter().map(|v| v.iter().map(|&x| f64::from(x)).collect());
        let state = model.state.iter().map(|layer| layer.iter().map(|_| frozen.next().unwrap()).collect()).collect();
        Ok(Reference {
            layers: (0..model.spec.layers.len()).map(|i| model.effective_layer(i)).collect(),
            shapes: model.shapes.clone(),
            loss: model.head.loss,
            // The rate as it stands (ReduceLROnPlateau may have lowered it on the device).
            optimizer: model.compile.optimizer.clone().with_lr(model.current_lr_async().await?),
            seed: model.compile.seed,
            params,
            state,
            slots,
            head: model.head.fused,
            step: model.iterations_async().await?,
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
            state: &self.state[i],
            seed: self.seed,
            step: self.step,
        }
    }

    /// One training step on a full batch: x [batch, input], targets [batch, outputs].
    pub fn train_step(&mut self, x: &[f64], targets: &[f64], batch: usize) {
        let values = self.forward(x, batch, true);
        for (i, layer) in self.layers.iter().enumerate() {
            if let Some(moved) = layer.kind_impl().cpu_moved_state(&self.ctx(i, batch), &values[i]) {
                self.state[i] = moved;
            }
        }
        let out = self.shapes.last().unwrap()[0];
        let mut dy = loss::cpu::forward(self.loss, out, values.last().unwrap(), targets, batch).dx;
        let mut grads: Vec<Vec<Vec<f64>>> = vec![Vec::new(); self.layers.len()];
        for i in (0..self.layers.len()).rev() {
            let ctx = self.ctx(i, batch);
            let (dx, g) = self.layers[i].kind_impl().cpu_backward(&ctx, &values[i], &values[i + 1], dy);
            (dy, grads[i]) = (dx, g);
        }
        let lr = self.optimizer.lr().at(self.step);
        for (j, (p, g)) in self.params.iter_mut().flatten().zip(grads.iter().flatten()).enumerate() {
            let state = &mut self.slots[j];
            match &self.optimizer {
                Optimizer::Sgd(cfg) => optim::cpu::sgd(cfg, lr, p, g, &mut state[0]),
                Optimizer::Adam(cfg) => {
                    let (m, v) = state.split_at_mut(1);
                    optim::cpu::adam(cfg, lr, p, g, &mut m[0], &mut v[0], self.step)
                }
                Optimizer::RmsProp(cfg) => {
                    let (velocity, rest) = state.split_first_mut().expect("RMSprop keeps a velocity");
                    let (mut rest, mut unused) = (rest.iter_mut(), (Vec::new(), Vec::new()));
                    let momentum = if cfg.momentum > 0.0 { rest.next().unwrap() } else { &mut unused.0 };
                    let average = if cfg.centered { rest.next().unwrap() } else { &mut unused.1 };
                    optim::cpu::rmsprop(cfg, lr, p, g, velocity, momentum, average)
                }
                Optimizer::Adagrad(cfg) => optim::cpu::adagrad(cfg, lr, p, g, &mut state[0]),
            }
        }
        self.step += 1;
    }

    /// The model's outputs for x [batch, input] in inference mode, as `Model::predict` gives
    /// them (after a fused output activation).
    pub fn predict(&self, x: &[f64], batch: usize) -> Vec<f64> {
        let out = self.forward(x, batch, false).pop().unwrap();
        match self.head {
            Some(act) => super::layers::cpu_activate(act, out, self.shapes.last().unwrap()[0]),
            None => out,
        }
    }

    /// Every non-trainable tensor, in layer order.
    pub fn non_trainable_weights(&self) -> Vec<&[f64]> {
        self.state.iter().flatten().map(|s| &s[..]).collect()
    }

    /// Every layer's output: values[0] = x, values[i + 1] = layer i's output.
    fn forward(&self, x: &[f64], batch: usize, training: bool) -> Vec<Vec<f64>> {
        let mut values = vec![x.to_vec()];
        for (i, layer) in self.layers.iter().enumerate() {
            let y = layer.kind_impl().cpu_forward(&self.ctx(i, batch), values.last().unwrap(), training);
            values.push(y);
        }
        values
    }
}
