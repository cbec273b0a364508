use rand::RngExt;
use wgtrain::ops::data::{self, GatherShape, Source, cpu};

use crate::common::*;

#[test]
fn data_gather_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("data_gather", gpu);
        let mut rng = rng(70);
        // (dataset rows, features, classes, batch rows, cursor): the last batches run short.
        for (n, features, classes, rows, cursor) in
            [(1, 1, 1, 1, 0), (100, 784, 10, 32, 64), (100, 784, 10, 32, 96), (37, 5, 3, 8, 33), (1000, 100, 2, 128, 0)]
        {
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
            let u8_src = Source {
                data: &gpu.upload_bytes("pixels", &pixels).unwrap(),
                labels: &gpu.upload_bytes("labels", &labels).unwrap(),
                indices: &indices,
                cursor: &cursor_t,
            };
            let f32_src = Source {
                data: &gpu.upload("feats", &feats).unwrap(),
                labels: &gpu.upload("targets", &targets).unwrap(),
                indices: &indices,
                cursor: &cursor_t,
            };
            let (x8, x32) = (poisoned(gpu, rows * features), poisoned(gpu, rows * features));
            let (y8, y32) = (poisoned(gpu, rows * classes), poisoned(gpu, rows * classes));
            let batch_rows = gpu.zeros("batch_rows", 1).unwrap();
            let batch_rows_f32 = gpu.zeros("batch_rows_f32", 1).unwrap();
            let dispatches = [
                data::gather_u8(gpu, &shape, &u8_src, &x8).unwrap(),
                data::onehot_u8(gpu, &shape, &u8_src, &y8, &batch_rows).unwrap(),
                data::gather_f32(gpu, &shape, &f32_src, &x32).unwrap(),
                data::labels_f32(gpu, &shape, &f32_src, &y32, &batch_rows_f32).unwrap(),
                data::advance(gpu, &shape, &cursor_t).unwrap(),
            ];
            gpu.run(&dispatches.iter().collect::<Vec<_>>()).unwrap();
            let what = format!("gather n {n} features {features} classes {classes} rows {rows} cursor {cursor}");
            worst.add(compare(
                &format!("{what} u8"),
                &read(gpu, &x8),
                &cpu::gather_u8(&shape, &pixels, &order, cursor),
            ));
            worst.add(compare(
                &format!("{what} onehot"),
                &read(gpu, &y8),
                &cpu::onehot_u8(&shape, &labels, &order, cursor),
            ));
            worst.add(compare(
                &format!("{what} f32"),
                &read(gpu, &x32),
                &cpu::gather_f32(&shape, &feats, &order, cursor),
            ));
            worst.add(compare(
                &format!("{what} labels f32"),
                &read(gpu, &y32),
                &cpu::labels_f32(&shape, &targets, &order, cursor),
            ));
            let valid = cpu::batch_rows(&shape, cursor) as u32;
            assert_eq!(gpu.read::<u32>(&batch_rows).unwrap(), [valid], "{what}: batch_rows");
            assert_eq!(gpu.read::<u32>(&batch_rows_f32).unwrap(), [valid], "{what}: batch_rows (f32 labels)");
            assert_eq!(gpu.read::<u32>(&cursor_t).unwrap(), [(cursor + rows) as u32], "{what}: cursor advanced");
        }
    }
}
