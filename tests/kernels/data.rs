use rand::RngExt;
use wgtrain::ops::data::{self, GatherShape, Source, cpu};
use wgtrain::ops::matmul::Operand;

use crate::common::*;

#[test]
fn data_gather_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("data_gather", gpu);
        let mut rng = rng(70);
        // (dataset rows, features, classes, batch rows, cursor): the last batches run short.
        for (n, features, classes, rows, cursor) in [
            (1, 1, 1, 1, 0),
            (100, 784, 10, 32, 64),
            (100, 784, 10, 32, 96),
            (37, 5, 3, 8, 33),
            (1000, 100, 2, 128, 0),
            (60, 301, 70, 16, 50),
        ] {
            let pixels: Vec<u8> = (0..n * features).map(|_| rng.random_range(0..=255)).collect();
            let feats = uniform(&mut rng, n * features, -5.0, 5.0);
            let labels: Vec<u8> = (0..n).map(|_| rng.random_range(0..classes as u8)).collect();
            let targets = uniform(&mut rng, n * classes, 0.0, 1.0);
            let mut order: Vec<u32> = (0..n as u32).collect();
            for i in (1..n).rev() {
                order.swap(i, rng.random_range(0..=i));
            }
            let shape = GatherShape { rows, features, classes, total: n, scale: 1.0 / 255.0 };
            let indices = gpu.upload("indices", &order).unwrap();
            let cursor_t = gpu.upload("cursor", &[cursor as u32]).unwrap();
            let (pixels_t, feats_t) =
                (gpu.upload_bytes("pixels", &pixels).unwrap(), gpu.upload("feats", &feats).unwrap());
            let (labels_t, targets_t) =
                (gpu.upload_bytes("labels", &labels).unwrap(), gpu.upload("targets", &targets).unwrap());
            let what = format!("gather n {n} features {features} classes {classes} rows {rows} cursor {cursor}");
            let valid = cpu::batch_rows(&shape, cursor) as u32;
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
                let (x, y) = (poisoned(gpu, rows * features), poisoned(gpu, rows * classes));
                let batch_rows = gpu.zeros("batch_rows", 1).unwrap();
                gpu.run(&[&data::gather(gpu, &shape, &src, Operand::F32(&x), &y, &batch_rows).unwrap()]).unwrap();
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
                worst.add(compare(&format!("{what} x"), &read(gpu, &x), &want_x));
                worst.add(compare(&format!("{what} y"), &read(gpu, &y), &want_y));
                assert_eq!(gpu.read::<u32>(&batch_rows).unwrap(), [valid], "{what}: batch_rows");

                // u8 features in whole words may also be copied as bytes, for a Dense first layer.
                if u8_features && features.is_multiple_of(4) {
                    let (x, y) = (poisoned(gpu, rows * features / 4), poisoned(gpu, rows * classes));
                    let batch_rows = gpu.zeros("batch_rows", 1).unwrap();
                    let bytes = data::gather(gpu, &shape, &src, Operand::Unorm8(&x), &y, &batch_rows).unwrap();
                    gpu.run(&[&bytes]).unwrap();
                    let got: Vec<u8> = gpu.read::<u32>(&x).unwrap().iter().flat_map(|w| w.to_le_bytes()).collect();
                    assert!(got == cpu::gather_bytes(&shape, &pixels, &order, cursor), "{what}: x as bytes");
                    worst.add(compare(&format!("{what} y (bytes)"), &read(gpu, &y), &want_y));
                    assert_eq!(gpu.read::<u32>(&batch_rows).unwrap(), [valid], "{what}: batch_rows (bytes)");
                }
            }
            gpu.run(&[&data::advance(gpu, &shape, &cursor_t).unwrap()]).unwrap();
            assert_eq!(gpu.read::<u32>(&cursor_t).unwrap(), [(cursor + rows) as u32], "{what}: cursor advanced");
        }
    }
}
