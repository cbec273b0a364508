//! Per-epoch metrics written as a run goes: CSV (a `.csv` file) or JSON lines (anything else).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::train::EpochLog;

const CSV_HEADER: &str = "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds,samples_per_second";

pub struct MetricsFile {
    path: PathBuf,
    file: std::fs::File,
    csv: bool,
}

impl MetricsFile {
    /// Creates (or, when `append`ing to a resumed run's file, extends) the metrics file.
    pub fn open(path: &Path, append: bool) -> Result<MetricsFile> {
        let io = |source| Error::Io { path: path.to_path_buf(), source };
        let csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let fresh = !append || std::fs::metadata(path).map_or(true, |m| m.len() == 0);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(!fresh)
            .truncate(fresh)
            .open(path)
            .map_err(io)?;
        if csv && fresh {
            writeln!(file, "{CSV_HEADER}").map_err(io)?;
        }
        Ok(MetricsFile { path: path.to_path_buf(), file, csv })
    }

    /// Writes one epoch's line and flushes it, so the file is complete even if the run dies.
    pub fn append(&mut self, log: &EpochLog) -> Result<()> {
        let line = if self.csv {
            let val =
                |f: fn(&crate::train::Metrics) -> f64| log.val.as_ref().map(|v| f(v).to_string()).unwrap_or_default();
            format!(
                "{},{},{},{},{},{},{:.3},{:.1}",
                log.epoch,
                log.loss,
                log.accuracy,
                val(|v| v.loss),
                val(|v| v.accuracy),
                log.learning_rate,
                log.seconds,
                log.samples_per_second
            )
        } else {
            let mut fields = serde_json::json!({
                "epoch": log.epoch,
                "loss": log.loss,
                "accuracy": log.accuracy,
                "learning_rate": log.learning_rate,
                "seconds": log.seconds,
                "samples_per_second": log.samples_per_second,
            });
            if let Some(v) = log.val {
                fields["val_loss"] = v.loss.into();
                fields["val_accuracy"] = v.accuracy.into();
            }
            fields.to_string()
        };
        writeln!(self.file, "{line}")
            .and_then(|()| self.file.flush())
            .map_err(|source| Error::Io { path: self.path.clone(), source })
    }
}
