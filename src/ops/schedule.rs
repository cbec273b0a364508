//! Learning rates, constant or scheduled as `keras.optimizers.schedules`, evaluated on the
//! GPU at every update: `shaders/schedule.wgsl`.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, Kernel, Shader, Tensor};

/// An optimizer's learning rate: a number, or a schedule of the updates made so far (Keras's
/// `learning_rate` argument takes either). In a spec file `"lr": 0.001` or
/// `"lr": {"CosineDecay": {"initial_learning_rate": 0.001, "decay_steps": 1000}}`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum LearningRate {
    Constant(f32),
    Schedule(Schedule),
}

impl<'de> serde::Deserialize<'de> for LearningRate {
    /// A number, or a schedule read as one, so a misspelt schedule or a missing setting is named
    /// (an untagged enum would only say that nothing matched).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<LearningRate, D::Error> {
        use serde::de::Error as _;
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => {
                let lr = n.as_f64().ok_or_else(|| D::Error::custom(format!("learning rate {n} is not a number")))?;
                Ok(LearningRate::Constant(lr as f32))
            }
            other => serde_json::from_value(other)
                .map(LearningRate::Schedule)
                .map_err(|e| D::Error::custom(format!("learning rate: {e}"))),
        }
    }
}

/// Keras's schedules, with its names, settings and defaults.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Schedule {
    /// initial · decay_rate^(step / decay_steps), the exponent floored with `staircase`.
    ExponentialDecay {
        initial_learning_rate: f32,
        decay_steps: f32,
        decay_rate: f32,
        #[serde(default)]
        staircase: bool,
    },
    /// Cosine decay from initial (or, after a linear warmup to `warmup_target` over
    /// `warmup_steps`, from the target) to alpha · that rate over `decay_steps`.
    CosineDecay {
        initial_learning_rate: f32,
        decay_steps: f32,
        #[serde(default)]
        alpha: f32,
        #[serde(default)]
        warmup_target: Option<f32>,
        #[serde(default)]
        warmup_steps: f32,
    },
    /// values[0] up to and including step boundaries[0], values[i] up to boundaries[i], the
    /// last value after the last boundary.
    PiecewiseConstantDecay { boundaries: Vec<u32>, values: Vec<f32> },
}

impl From<f32> for LearningRate {
    fn from(lr: f32) -> LearningRate {
        LearningRate::Constant(lr)
    }
}

impl From<Schedule> for LearningRate {
    fn from(schedule: Schedule) -> LearningRate {
        LearningRate::Schedule(schedule)
    }
}

const CONSTANT: u32 = 0;
const EXPONENTIAL: u32 = 1;
const COSINE: u32 = 2;
const PIECEWISE: u32 = 3;

/// The most boundaries a piecewise schedule may have.
pub const MAX_BOUNDARIES: usize = 1024;

impl LearningRate {
    /// The rate of the update after `iterations` updates (Keras's `optimizer.iterations`), in f64.
    pub fn at(&self, iterations: u32) -> f64 {
        let t = f64::from(iterations);
        match self {
            LearningRate::Constant(lr) => f64::from(*lr),
            LearningRate::Schedule(Schedule::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            }) => {
                let p = t / f64::from(*decay_steps);
                let p = if *staircase { p.floor() } else { p };
                f64::from(*initial_learning_rate) * f64::from(*decay_rate).powf(p)
            }
            LearningRate::Schedule(Schedule::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                warmup_target,
                warmup_steps,
            }) => {
                let (initial, decay_steps, alpha) =
                    (f64::from(*initial_learning_rate), f64::from(*decay_steps), f64::from(*alpha));
                let decayed = |s: f64, from: f64| {
                    let cosine = 0.5 * (1.0 + (std::f64::consts::PI * s / decay_steps).cos());
                    from * ((1.0 - alpha) * cosine + alpha)
                };
                match warmup_target {
                    None => decayed(t.min(decay_steps), initial),
                    Some(target) => {
                        let (target, warmup) = (f64::from(*target), f64::from(*warmup_steps));
                        let s = t.min(decay_steps + warmup);
                        if s < warmup {
                            (target - initial) * (s / warmup) + initial
                        } else {
                            decayed(s - warmup, target)
                        }
                    }
                }
            }
            LearningRate::Schedule(Schedule::PiecewiseConstantDecay { boundaries, values }) => {
                let i = boundaries.iter().take_while(|&&b| iterations > b).count();
                f64::from(values[i])
            }
        }
    }

    /// The rate starting at `lr` instead: the constant itself, or a decay's initial rate; a
    /// piecewise schedule has none.
    pub fn with_initial(&self, lr: f32) -> Result<LearningRate> {
        Ok(match self.clone() {
            LearningRate::Constant(_) => LearningRate::Constant(lr),
            LearningRate::Schedule(Schedule::ExponentialDecay { decay_steps, decay_rate, staircase, .. }) => {
                Schedule::ExponentialDecay { initial_learning_rate: lr, decay_steps, decay_rate, staircase }.into()
            }
            LearningRate::Schedule(Schedule::CosineDecay {
                decay_steps, alpha, warmup_target, warmup_steps, ..
            }) => Schedule::CosineDecay { initial_learning_rate: lr, decay_steps, alpha, warmup_target, warmup_steps }
                .into(),
            LearningRate::Schedule(Schedule::PiecewiseConstantDecay { .. }) => {
                return Err(Error::Invalid(
                    "the learning rate is a PiecewiseConstantDecay, which has no initial rate to set".into(),
                ));
            }
        })
    }

    /// Whether the rate is a number (which `set_learning_rate` may change) rather than a schedule.
    pub fn is_constant(&self) -> bool {
        matches!(self, LearningRate::Constant(_))
    }

    /// Refuses settings Keras refuses or that have no finite, non-negative rate (a negative one
    /// would climb the loss): one line naming the setting.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Invalid(format!("learning rate: {what}")));
        let finite = |name: &str, v: f32| match v {
            v if !v.is_finite() => bad(format!("{name} {v} is not finite")),
            v if v < 0.0 => bad(format!("{name} {v} is negative")),
            _ => Ok(()),
        };
        match self {
            LearningRate::Constant(lr) => finite("the rate", *lr),
            LearningRate::Schedule(Schedule::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                ..
            }) => {
                finite("initial_learning_rate", *initial_learning_rate)?;
                if !(decay_steps.is_finite() && *decay_steps > 0.0) {
                    return bad(format!("ExponentialDecay decay_steps {decay_steps} must be positive"));
                }
                if !(decay_rate.is_finite() && *decay_rate > 0.0) {
                    return bad(format!("ExponentialDecay decay_rate {decay_rate} must be positive"));
                }
                Ok(())
            }
            LearningRate::Schedule(Schedule::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                warmup_target,
                warmup_steps,
            }) => {
                finite("initial_learning_rate", *initial_learning_rate)?;
                if !(0.0..=1.0).contains(alpha) {
                    return bad(format!("CosineDecay alpha {alpha} must be in [0, 1]"));
                }
                if !(decay_steps.is_finite() && *decay_steps > 0.0) {
                    return bad(format!("CosineDecay decay_steps {decay_steps} must be positive"));
                }
                if !(warmup_steps.is_finite() && *warmup_steps >= 0.0) {
                    return bad(format!("CosineDecay warmup_steps {warmup_steps} must be non-negative"));
                }
                warmup_target.map_or(Ok(()), |t| finite("warmup_target", t))
            }
            LearningRate::Schedule(Schedule::PiecewiseConstantDecay { boundaries, values }) => {
                if values.len() != boundaries.len() + 1 {
                    return bad(format!(
                        "PiecewiseConstantDecay needs one value more than boundaries, got {} boundaries and {} values",
                        boundaries.len(),
                        values.len()
                    ));
                }
                if boundaries.is_empty() {
                    return bad("PiecewiseConstantDecay needs at least one boundary (as Keras)".into());
                }
                if boundaries.len() > MAX_BOUNDARIES {
                    return bad(format!("PiecewiseConstantDecay takes at most {MAX_BOUNDARIES} boundaries"));
                }
                if !boundaries.is_sorted() {
                    return bad("PiecewiseConstantDecay boundaries must be in increasing order".into());
                }
                values.iter().try_for_each(|&v| finite("a PiecewiseConstantDecay value", v))
            }
        }
    }

    /// The description the kernel reads (schedule.wgsl's layout).
    pub fn words(&self) -> Vec<u32> {
        let b = f32::to_bits;
        match self {
            LearningRate::Constant(lr) => vec![CONSTANT, b(*lr)],
            LearningRate::Schedule(Schedule::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            }) => vec![EXPONENTIAL, b(*initial_learning_rate), b(*decay_steps), b(*decay_rate), u32::from(*staircase)],
            LearningRate::Schedule(Schedule::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                warmup_target,
                warmup_steps,
            }) => vec![
                COSINE,
                b(*initial_learning_rate),
                b(*decay_steps),
                b(*alpha),
                u32::from(warmup_target.is_some()),
                b(warmup_target.unwrap_or(0.0)),
                b(*warmup_steps),
            ],
            LearningRate::Schedule(Schedule::PiecewiseConstantDecay { boundaries, values }) => {
                let head = [PIECEWISE, b(values[0]), boundaries.len() as u32];
                head.into_iter().chain(boundaries.iter().copied()).chain(values.iter().copied().map(b)).collect()
            }
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    words: u32,
}

/// rate[0] = the schedule `description` (`LearningRate::words`) at the update whose number
/// `step` holds (u32, 1 for the first).
pub fn learning_rate(gpu: &Gpu, description: &Tensor, step: &Tensor, rate: &Tensor) -> Result<Dispatch> {
    let kernel = Kernel::new(Shader::Schedule, "learning_rate");
    let params = Params { words: description.len() as u32 };
    gpu.dispatch(&kernel, &params, &[(1, description), (2, step), (3, rate)], [1, 1, 1])
}
