//! Per-epoch metrics written as a run goes: CSV (a `.csv` file) or JSON lines (anything else).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::train::EpochLog;

const CSV_HEADER: &str = "epoch,loss,accuracy,val_loss,val_accuracy,seconds,samples_per_second,learning_rate";

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
        if csv && !fresh {
            // Appending rows under another header would misalign every column.
            let mut header = String::new();
            std::io::BufReader::new(std::fs::File::open(path).map_err(io)?).read_line(&mut header).map_err(io)?;
            let header = header.trim_end();
            if header != CSV_HEADER {
                return Err(Error::Data {
                    path: path.to_path_buf(),
                    message: format!("has the columns '{header}', not '{CSV_HEADER}': write the metrics to a new file"),
                });
            }
        }
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
                "{},{},{},{},{},{:.3},{:.1},{}",
                log.epoch,
                log.loss,
                log.accuracy,
                val(|v| v.loss),
                val(|v| v.accuracy),
                log.seconds,
                log.samples_per_second,
                log.learning_rate
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

#[cfg(test)]
mod tests {
    use super::{CSV_HEADER, MetricsFile};

    #[test]
    fn appending_under_another_header_is_refused_and_changes_nothing() {
        let path = std::env::temp_dir().join(format!("wgtrain-metrics-{}.csv", std::process::id()));
        let old = "epoch,loss,accuracy\n1,0.5,0.8\n";
        std::fs::write(&path, old).unwrap();
        let err = MetricsFile::open(&path, true).err().unwrap().to_string();
        assert!(err.contains("epoch,loss,accuracy") && err.contains("new file"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), old);
        std::fs::write(&path, format!("{CSV_HEADER}\n")).unwrap();
        assert!(MetricsFile::open(&path, true).is_ok());
        std::fs::remove_file(&path).unwrap();
    }
}
