//! Keras's `ReduceLROnPlateau` callback: lower a constant learning rate when the monitored
//! loss stops improving.

use crate::error::{Error, Result};
use crate::ops::optim::LearningRate;

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
    /// Refuses what Keras refuses (a factor of 1 or more; a rate that is a schedule, which
    /// cannot be set) and settings with no finite meaning.
    pub fn check(&self, lr: &LearningRate) -> Result<()> {
        if !lr.is_constant() {
            return Err(Error::Invalid(
                "ReduceLROnPlateau needs a constant learning rate, not a schedule (as in Keras)".into(),
            ));
        }
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

/// What the callback has seen, as Keras keeps it: the best monitored loss (none before the
/// first epoch), the epochs waited since, and the cooldown epochs left. Checkpoints keep it, so
/// a resumed run lowers the rate at the epochs an uninterrupted one would.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlateauState {
    pub best: Option<f64>,
    pub wait: usize,
    pub cooldown: usize,
}

pub(crate) struct Plateau {
    cfg: ReduceLrOnPlateau,
    pub state: PlateauState,
}

impl Plateau {
    pub fn new(cfg: ReduceLrOnPlateau, state: PlateauState) -> Plateau {
        Plateau { cfg, state }
    }

    /// After an epoch whose monitored loss is `current`, at learning rate `lr`: the lowered
    /// rate, when the plateau calls for one.
    pub fn after(&mut self, current: f64, lr: f32) -> Option<f32> {
        let s = &mut self.state;
        if s.cooldown > 0 {
            s.cooldown -= 1;
            s.wait = 0;
        }
        // Keras's "min" mode: better by more than min_delta (the first epoch always is, and a
        // NaN first loss stays the best, as in Keras).
        if s.best.is_none_or(|best| current + self.cfg.min_delta.abs() < best) {
            s.best = Some(current);
            s.wait = 0;
            return None;
        }
        if s.cooldown > 0 {
            return None;
        }
        s.wait += 1;
        if s.wait < self.cfg.patience || lr <= self.cfg.min_lr as f32 {
            return None;
        }
        s.cooldown = self.cfg.cooldown;
        s.wait = 0;
        Some((f64::from(lr) * self.cfg.factor).max(self.cfg.min_lr) as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::{Plateau, PlateauState, ReduceLrOnPlateau};

    #[test]
    fn lowers_the_rate_after_patience_epochs_without_improvement_then_cools_down() {
        let cfg = ReduceLrOnPlateau { patience: 2, cooldown: 1, min_lr: 1e-4, ..ReduceLrOnPlateau::default() };
        let mut plateau = Plateau::new(cfg, PlateauState::default());
        let mut lr = 0.01f32;
        let mut rates = Vec::new();
        // Improves, then flat for good; a change below min_delta is no improvement.
        for loss in [1.0, 0.9, 0.89995, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9] {
            if let Some(lower) = plateau.after(loss, lr) {
                lr = lower;
            }
            rates.push(lr);
        }
        // Lowered after epochs 3 and 5 (one epoch of cooldown between), then held at min_lr
        // while the wait goes on counting.
        let want = [0.01, 0.01, 0.01, 0.001, 0.001, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4];
        assert!(rates.iter().zip(want).all(|(&r, w)| (f64::from(r) - w).abs() < 1e-9), "{rates:?}");
        assert_eq!(plateau.state, PlateauState { best: Some(0.9), wait: 5, cooldown: 0 });
    }
}
