//! Keras-style progress: a bar during the epoch, then one line per epoch. In a browser the
//! lines go to the console and the page draws its own bar (`fit_async`'s `on_progress`).

use super::EpochLog;

#[cfg(target_arch = "wasm32")]
pub(crate) struct Progress {
    verbose: bool,
}

#[cfg(target_arch = "wasm32")]
impl Progress {
    pub fn start(verbose: bool, epoch: usize, epochs: usize, _steps: usize) -> Progress {
        if verbose {
            crate::console::line(&format!("Epoch {epoch}/{epochs}"));
        }
        Progress { verbose }
    }

    pub fn update(&self, _step: usize, _loss: f64, _accuracy: f64) {}

    pub fn finish(self, log: &EpochLog) {
        if self.verbose {
            crate::console::line(&log.to_string());
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

#[cfg(not(target_arch = "wasm32"))]
impl Progress {
    pub fn start(verbose: bool, epoch: usize, epochs: usize, steps: usize) -> Progress {
        if !verbose {
            return Progress { bar: None };
        }
        println!("Epoch {epoch}/{epochs}");
        let bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{pos:>5}/{len} [{bar:30}] {elapsed_precise} {msg}")
                .expect("static template")
                .progress_chars("=> "),
        );
        Progress { bar: Some(bar) }
    }

    pub fn update(&self, step: usize, loss: f64, accuracy: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(step as u64);
            bar.set_message(format!("loss: {loss:.4} - accuracy: {accuracy:.4}"));
        }
    }

    pub fn finish(self, log: &EpochLog) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
            println!("{log}");
        }
    }
}
