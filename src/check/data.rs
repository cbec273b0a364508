//! The batch gather (every pairing of u8 / f32 features and class / target labels, short last
//! batches) and the u8 inputs read as byte / 255 exactly, by the gather and by every matmul
//! variant that reads bytes.

use rand::RngExt;

use super::{Check, CheckResult, Checker, uniform};
use crate::data::unorm8;
use crate::ops::Activation;
use crate::ops::data::{self, GatherShape, Source, cpu};
use crate::ops::matmul::{self, MatmulShape, Operand, Variant};

pub const CHECKS: &[Check] =
    &[Check::new("data_gather", "", |c| Box::pin(gather(c))), Check::new("unorm8", "", |c| Box::pin(unorm8_exact(c)))];

async fn gather(ck: &mut Checker<'_>) -> CheckResult {
    let gpu = ck.gpu;
    let mut rng = ck.rng(70);
    // (dataset rows, features, classes, batch rows, cursor): the last batches run short.
    let cases = [
        (1, 1, 1, 1, 0),
        (100, 784, 10, 32, 64),
        (100, 784, 10, 32, 96),
        (37, 5, 3, 8, 33),
        (1000, 100, 2, 128, 0),
        (60, 301, 70, 16, 50),
    ];
    for (_, &(n, features, classes, rows, cursor)) in ck.pick(&cases) {
        let pixels: Vec<u8> = (0..n * features).map(|_| rng.random_range(0..=255)).collect();
        let feats = uniform(&mut rng, n * features, -5.0, 5.0);
        let labels: Vec<u8> = (0..n).map(|_| rng.random_range(0..classes as u8)).collect();
        let targets = uniform(&mut rng, n * classes, 0.0, 1.0);
        let mut order: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let shape = GatherShape { rows, features, classes, total: n };
        let indices = gpu.upload("indices", &order)?;
        let cursor_t = gpu.upload("cursor", &[cursor as u32])?;
        let (pixels_t, feats_t) = (gpu.upload_bytes("pixels", &pixels)?, ck.upload("feats", &feats)?);
        let (labels_t, targets_t) = (gpu.upload_bytes("labels", &labels)?, ck.upload("targets", &targets)?);
        let what = format!("gather n {n} features {features} classes {classes} rows {rows} cursor {cursor}");
        let valid = [cpu::batch_rows(&shape, cursor) as u32];
        // Every pairing of feature and label formats (IDX, .npy with class or f32 targets).
        for (u8_features, class_labels) in [(true, true), (true, false), (false, true), (false, false)] {
            let src = Source {
                data: if u8_features { &pixels_t } else { &feats_t },
                labels: if class_labels { &labels_t } else { &targets_t },
                indices: &indices,
                cursor: &cursor_t,
                u8_features,
                class_labels,
            };
            let (x, y) = (ck.poisoned(rows * features)?, ck.poisoned(rows * classes)?);
            let batch_rows = gpu.zeros("batch_rows", 1)?;
            ck.run(data::gather(gpu, &shape, &src, Operand::F32(&x), &y, &batch_rows)).await?;
            let what = format!("{what} u8 features {u8_features} class labels {class_labels}");
            let want_x = if u8_features {
                cpu::gather_u8(&shape, &pixels, &order, cursor)
            } else {
                cpu::gather_f32(&shape, &feats, &order, cursor)
            };
            let want_y = if class_labels {
                cpu::onehot_u8(&shape, &labels, &order, cursor)
            } else {
                cpu::labels_f32(&shape, &targets, &order, cursor)
            };
            ck.compare(&format!("{what} x"), &ck.read(&x).await?, &want_x)?;
            ck.compare(&format!("{what} y"), &ck.read(&y).await?, &want_y)?;
            ck.expect(gpu.read_async::<u32>(&batch_rows).await? == valid, || format!("{what}: batch_rows"))?;

            // u8 features in whole words may also be copied as bytes, for a Dense first layer.
            if u8_features && features.is_multiple_of(4) {
                let (x, y) = (ck.poisoned(rows * features / 4)?, ck.poisoned(rows * classes)?);
                let batch_rows = gpu.zeros("batch_rows", 1)?;
                ck.run(data::gather(gpu, &shape, &src, Operand::Unorm8(&x), &y, &batch_rows)).await?;
                let got: Vec<u8> = gpu.read_async::<u32>(&x).await?.iter().flat_map(|w| w.to_le_bytes()).collect();
                let same = got == cpu::gather_bytes(&shape, &pixels, &order, cursor);
                ck.expect(same, || format!("{what}: x as bytes"))?;
                ck.compare(&format!("{what} y (bytes)"), &ck.read(&y).await?, &want_y)?;
                ck.expect(gpu.read_async::<u32>(&batch_rows).await? == valid, || {
                    format!("{what}: batch_rows (bytes)")
                })?;
            }
        }
        ck.run(data::advance(gpu, &shape, &cursor_t)).await?;
        let moved = gpu.read_async::<u32>(&cursor_t).await? == [(cursor + rows) as u32];
        ck.expect(moved, || format!("{what}: cursor not advanced by the rows"))?;
    }
    Ok(())
}

/// Every byte value, bit for bit `byte as f32 / 255`: gathered into f32, and read by each matmul
/// variant that takes bytes (times an identity, which adds only exact zeros).
async fn unorm8_exact(ck: &mut Checker<'_>) -> CheckResult {
    let gpu = ck.gpu;
    let want: Vec<f32> = (0..=255u8).flat_map(|b| [unorm8(b); 4]).collect();
    let bytes: Vec<u8> = (0..=255u8).flat_map(|b| [b; 4]).collect();
    let same = |got: &[f32]| got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits());
    let first_wrong = |got: &[f32]| {
        let i = got.iter().zip(&want).position(|(g, w)| g.to_bits() != w.to_bits()).unwrap_or(0);
        format!("byte {}: {:e}, not {:e}", i / 4, got[i], want[i])
    };

    let shape = GatherShape { rows: 256, features: 4, classes: 1, total: 256 };
    let order: Vec<u32> = (0..256).collect();
    let (data, labels) = (gpu.upload_bytes("bytes", &bytes)?, gpu.upload_bytes("labels", &[0u8; 256])?);
    let (indices, cursor) = (gpu.upload("indices", &order)?, gpu.upload("cursor", &[0u32])?);
    let src = Source {
        data: &data,
        labels: &labels,
        indices: &indices,
        cursor: &cursor,
        u8_features: true,
        class_labels: true,
    };
    let (x, y, batch_rows) = (ck.poisoned(256 * 4)?, ck.poisoned(256)?, gpu.zeros("batch_rows", 1)?);
    ck.run(data::gather(gpu, &shape, &src, Operand::F32(&x), &y, &batch_rows)).await?;
    let got = ck.read(&x).await?;
    ck.expect(same(&got), || format!("data_gather: {}", first_wrong(&got)))?;

    let product = MatmulShape::new(256, 4, 4);
    let identity: Vec<f32> = (0..16).map(|i| f32::from(u8::from(i % 5 == 0))).collect();
    let (a, b) = (gpu.upload_bytes("a_u8", &bytes)?, gpu.upload_windowed("identity", &identity)?);
    for variant in Variant::runnable(gpu, &product) {
        let c = ck.poisoned(256 * 4)?;
        ck.run(matmul::matmul_variant(gpu, variant, product, Operand::Unorm8(&a), &b, None, Activation::Linear, &c))
            .await?;
        let got = ck.read(&c).await?;
        ck.expect(same(&got), || format!("matmul {} with u8 A: {}", variant.name(), first_wrong(&got)))?;
    }
    Ok(())
}
