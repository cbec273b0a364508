//! Keras's `ReduceLROnPlateau` callback: lower a constant learning rate when the monitored
//! loss stops improving.

use crate::error::{Error, Result};

/// Keras's settings and defaults: the monitored loss (val_loss, or the training loss without
/// validation) must fall by more than `min_delta` within `patience` epochs, else the rate is
/// multiplied by `factor` (never below `min_lr`), then `cooldown` epochs pass unwatched.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReduceLrOnPlateau {
    pub factor: f64,
    pub patience: usize,
    pub min_delta: f64,
    pub cooldown: usize,
    pub min_lr: f64,
}

impl Default for ReduceLrOnPlateau {
    fn default() -> ReduceLrOnPlateau {
        ReduceLrOnPlateau { factor: 0.1, patience: 10, min_delta: 1e-4, cooldown: 0, min_lr: 0.0 }
    }
}

impl ReduceLrOnPlateau {
    /// Refuses what Keras refuses (a factor of 1 or more) and settings with no finite meaning.
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str, v: f64| Err(Error::Invalid(format!("ReduceLROnPlateau {what} {v}")));
        if !(self.factor.is_finite() && self.factor >= 0.0 && self.factor < 1.0) {
            return bad("factor must be in [0, 1), got", self.factor);
        }
        if !(self.min_delta.is_finite()) {
            return bad("min_delta must be finite, got", self.min_delta);
        }
        if !(self.min_lr.is_finite() && self.min_lr >= 0.0) {
            return bad("min_lr must be finite and non-negative, got", self.min_lr);
        }
        Ok(())
    }
}

/// The callback's state within one run of fit, as Keras keeps it (not saved in checkpoints:
/// a resumed run keeps the lowered rate and starts waiting afresh, as Keras's callback does in
/// a new fit).
pub(crate) struct Plateau {
    cfg: ReduceLrOnPlateau,
    best: Option<f64>,
    wait: usize,
    cooldown: usize,
}

impl Plateau {
    pub fn new(cfg: ReduceLrOnPlateau) -> Plateau {
        Plateau { cfg, best: None, wait: 0, cooldown: 0 }
    }

    /// After an epoch whose monitored loss is `current`, at learning rate `lr`: the lowered
    /// rate, when the plateau calls for one.
    pub fn after(&mut self, current: f64, lr: f32) -> Option<f32> {
        if self.cooldown > 0 {
            self.cooldown -= 1;
            self.wait = 0;
        }
        // Keras's "min" mode: better by more than min_delta.
        if self.best.is_none_or(|best| current + self.cfg.min_delta.abs() < best) {
            self.best = Some(current);
            self.wait = 0;
            return None;
        }
        if self.cooldown > 0 {
            return None;
        }
        self.wait += 1;
        if self.wait < self.cfg.patience || lr <= self.cfg.min_lr as f32 {
            return None;
        }
        self.cooldown = self.cfg.cooldown;
        self.wait = 0;
        Some((f64::from(lr) * self.cfg.factor).max(self.cfg.min_lr) as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::{Plateau, ReduceLrOnPlateau};

    #[test]
    fn lowers_the_rate_after_patience_epochs_without_improvement_then_cools_down() {
        let cfg = ReduceLrOnPlateau { patience: 2, cooldown: 1, min_lr: 1e-4, ..ReduceLrOnPlateau::default() };
        let mut plateau = Plateau::new(cfg);
        let mut lr = 0.01f32;
        let mut rates = Vec::new();
        // Improves, then flat for good; a change below min_delta is no improvement.
        for loss in [1.0, 0.9, 0.89995, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9] {
            if let Some(lower) = plateau.after(loss, lr) {
                lr = lower;
            }
            rates.push(lr);
        }
        // Lowered after epochs 3 and 5 (one epoch of cooldown between), then held at min_lr.
        let want = [0.01, 0.01, 0.01, 0.001, 0.001, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4];
        assert!(rates.iter().zip(want).all(|(&r, w)| (f64::from(r) - w).abs() < 1e-9), "{rates:?}");
    }
}
