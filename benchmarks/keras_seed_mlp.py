"""The reference for the seed MLP's speed goal: the seed's Keras model (784-128-10, Adam,
batch 32) on TensorFlow-CPU, timed as `cargo run --release --example benchmark` times its
training row: the bundled 10 000-sample Fashion-MNIST subset, a warm-up epoch, then the median
of 5 epochs. Run it next to the benchmark, alternating, to compare the two on one machine:

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install "tensorflow-cpu==2.21.*"
    /tmp/tf/bin/python benchmarks/keras_seed_mlp.py

or let the benchmark alternate the two, run by run, and report the ratio of each pair:

    cargo run --release --example benchmark -- --adapter vulkan --repeat 5 \
        --reference "mlp=/tmp/tf/bin/python benchmarks/keras_seed_mlp.py"
"""

import gzip
import pathlib
import statistics
import time

import numpy as np
import tensorflow as tf

SAMPLES, EPOCHS = 10_000, 6


def idx(path: pathlib.Path, header: int) -> np.ndarray:
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=header)


class EpochTimes(tf.keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def main():
    data = pathlib.Path(__file__).resolve().parent.parent / "assets" / "fashion-mnist"
    x = idx(data / "train-images-idx3-ubyte.gz", 16).reshape(-1, 784)[:SAMPLES].astype("float32") / 255.0
    y = idx(data / "train-labels-idx1-ubyte.gz", 8)[:SAMPLES]
    model = tf.keras.Sequential([
        tf.keras.Input((784,)),
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    times = EpochTimes()
    model.fit(x, y, batch_size=32, epochs=EPOCHS, verbose=0, callbacks=[times])
    rates = [len(x) / s for s in times.seconds[1:]]
    print(f"keras mlp batch 32 on {len(x)} samples: {statistics.median(rates):.0f} samples/s "
          f"(median of {len(rates)} epochs, {min(rates):.0f}-{max(rates):.0f}), TensorFlow {tf.__version__}")


if __name__ == "__main__":
    main()
