//! Reading a classifier's outputs: confusion matrices and top-k classes.

use std::fmt;

/// Counts of (true class, predicted class) over a labelled set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// `counts[truth][predicted]`.
    pub counts: Vec<Vec<usize>>,
    pub names: Vec<String>,
}

/// The index of the largest value (the first of equals).
fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
}

impl ConfusionMatrix {
    /// From `outputs` ([n, classes] row-major) and the true class of each row. A single-output
    /// (sigmoid) model is read as two classes, 1 when the output exceeds 0.5.
    pub fn new(outputs: &[f32], truth: &[u8], classes: usize, names: &[String]) -> ConfusionMatrix {
        let width = outputs.len() / truth.len().max(1);
        let classes = classes.max(2);
        let mut counts = vec![vec![0; classes]; classes];
        for (row, &t) in outputs.chunks(width.max(1)).zip(truth) {
            let predicted = if width == 1 { usize::from(row[0] > 0.5) } else { argmax(row) };
            counts[usize::from(t)][predicted] += 1;
        }
        let names = if names.len() == classes { names.to_vec() } else { (0..classes).map(|c| c.to_string()).collect() };
        ConfusionMatrix { counts, names }
    }

    pub fn accuracy(&self) -> f64 {
        let total: usize = self.counts.iter().flatten().sum();
        let right: usize = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        right as f64 / total.max(1) as f64
    }
}

impl fmt::Display for ConfusionMatrix {
    /// Rows are true classes, columns predictions, with each class's recall at the end.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let name_width = self.names.iter().map(|n| n.chars().count()).max().unwrap_or(1).max(10);
        let cell = self.counts.iter().flatten().max().map_or(1, |m| m.to_string().len()).max(4) + 1;
        writeln!(f, "confusion matrix (rows: true class, columns: predicted class)")?;
        write!(f, "{:>name_width$} ", "")?;
        for c in 0..self.counts.len() {
            write!(f, "{c:>cell$}")?;
        }
        writeln!(f, "  recall")?;
        for (i, row) in self.counts.iter().enumerate() {
            let label = format!("{i} {}", self.names[i]);
            write!(f, "{:>name_width$} ", if self.names[i] == i.to_string() { i.to_string() } else { label })?;
            for n in row {
                write!(f, "{n:>cell$}")?;
            }
            let total: usize = row.iter().sum();
            writeln!(f, "  {:.3}", row[i] as f64 / total.max(1) as f64)?;
        }
        Ok(())
    }
}

/// The `k` most probable classes of one output row, most probable first; a single sigmoid
/// output is read as the probability of class 1.
pub fn top_k(row: &[f32], k: usize) -> Vec<(usize, f32)> {
    let probabilities: Vec<f32> = if row.len() == 1 { vec![1.0 - row[0], row[0]] } else { row.to_vec() };
    let mut ranked: Vec<(usize, f32)> = probabilities.into_iter().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(k);
    ranked
}
