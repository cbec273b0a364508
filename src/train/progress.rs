//! Keras-style progress: a bar during the epoch, then one line per epoch.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::EpochLog;

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

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
