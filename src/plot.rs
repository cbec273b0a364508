//! Training curves as a PNG: loss and accuracy per epoch, training and validation.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::train::EpochLog;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 480;

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Data { path: path.to_path_buf(), message: format!("could not draw the plot: {e}") }
}

/// Draws the epochs' loss (left) and accuracy (right) and writes them to `path` as a PNG.
pub fn write_curves(path: &Path, epochs: &[EpochLog]) -> Result<()> {
    if epochs.is_empty() {
        return Err(plot_error(path, "no epochs to plot"));
    }
    // Text is drawn with an embedded font: no system fonts needed.
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| plot_error(path, "the embedded font did not load"))?;
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
        let (left, right) = root.split_horizontally(WIDTH / 2);
        let train_loss: Vec<(f64, f64)> = epochs.iter().map(|e| (e.epoch as f64, e.loss)).collect();
        let val_loss: Vec<(f64, f64)> = epochs.iter().filter_map(|e| e.val.map(|v| (e.epoch as f64, v.loss))).collect();
        let train_acc: Vec<(f64, f64)> = epochs.iter().map(|e| (e.epoch as f64, e.accuracy)).collect();
        let val_acc: Vec<(f64, f64)> =
            epochs.iter().filter_map(|e| e.val.map(|v| (e.epoch as f64, v.accuracy))).collect();
        panel(&left, "loss", &train_loss, &val_loss).map_err(|e| plot_error(path, e))?;
        panel(&right, "accuracy", &train_acc, &val_acc).map_err(|e| plot_error(path, e))?;
        root.present().map_err(|e| plot_error(path, e))?;
    }
    let image = image::RgbImage::from_raw(WIDTH, HEIGHT, pixels).expect("buffer sized for the image");
    let mut png = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).map_err(|e| plot_error(path, e))?;
    std::fs::write(path, png).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// One chart: a metric per epoch, training in blue and validation (when any) in orange.
fn panel(
    area: &Area,
    metric: &str,
    train: &[(f64, f64)],
    val: &[(f64, f64)],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let first = train.first().map_or(1.0, |p| p.0);
    let last = train.last().map_or(1.0, |p| p.0).max(first + 1.0);
    let values = train.iter().chain(val).map(|p| p.1);
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = ((hi - lo) * 0.08).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .caption(metric, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(first..last, (lo - pad)..(hi + pad))?;
    chart
        .configure_mesh()
        .x_labels(((last - first) as usize + 1).min(11))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("epoch")
        .y_desc(metric)
        .label_style(("sans-serif", 14))
        .draw()?;
    let orange = RGBColor(230, 120, 20);
    chart
        .draw_series(LineSeries::new(train.iter().copied(), BLUE.stroke_width(2)))?
        .label("train")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLUE.stroke_width(2)));
    if !val.is_empty() {
        chart
            .draw_series(LineSeries::new(val.iter().copied(), orange.stroke_width(2)))?
            .label("validation")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], orange.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}
