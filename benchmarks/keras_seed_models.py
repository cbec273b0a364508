"""The Keras references of the benchmark's training rows: the same models (the seed MLP 784-128-10
and the seed CNN, keras.io's convnet, the BatchNormalization CNN, the 4-conv CNN), the same settings and the same samples of the
bundled Fashion-MNIST subset on TensorFlow-CPU, timed as `cargo run --release --example benchmark`
times its rows: a warm-up epoch, then the median of 5 epochs. Run it next to the benchmark,
alternating, to compare the two on one machine:

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install "tensorflow-cpu==2.21.*"
    /tmp/tf/bin/python benchmarks/keras_seed_models.py mlp|cnn|convnet|bn_cnn|cnn4 [SAMPLES]

or let the benchmark alternate the two, run by run, and report the ratio of each pair:

    cargo run --release --example benchmark -- --adapter vulkan --repeat 5 \\
        --reference "mlp=/tmp/tf/bin/python benchmarks/keras_seed_models.py mlp" \\
        --reference "cnn=/tmp/tf/bin/python benchmarks/keras_seed_models.py cnn"

SAMPLES defaults to the benchmark's count on a CPU adapter (mlp 10 000, cnn, convnet and bn_cnn
2 000, cnn4 640); pass its count on a GPU (10 000) to stand beside a GPU's rows.
"""

import gzip
import pathlib
import statistics
import sys
import time

import numpy as np
import tensorflow as tf

EPOCHS = 6
layers = tf.keras.layers


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


def conv(filters, padding="valid"):
    return layers.Conv2D(filters, (3, 3), padding=padding, activation="relu")


def bn_block(filters):
    return [layers.Conv2D(filters, 3, padding="same", use_bias=False), layers.BatchNormalization(),
            layers.Activation("relu")]


# name: (layers after the input, batch size, default samples); the MLP takes its input flat, as
# the seed program does, the others 28×28×1.
MODELS = {
    "mlp": (lambda: [layers.Dense(128, activation="relu")], 32, 10_000),
    "cnn": (lambda: [conv(32), layers.MaxPooling2D((2, 2)), layers.Flatten(), layers.Dense(128, activation="relu")],
            32, 2_000),
    "convnet": (lambda: [conv(32), layers.MaxPooling2D((2, 2)), conv(64), layers.MaxPooling2D((2, 2)),
                         layers.Flatten(), layers.Dropout(0.5)], 128, 2_000),
    "bn_cnn": (lambda: [*bn_block(16), layers.MaxPooling2D(2), *bn_block(32), layers.MaxPooling2D(2),
                        *bn_block(64), layers.GlobalAveragePooling2D()], 64, 2_000),
    "cnn4": (lambda: [conv(32, "same"), conv(32), layers.MaxPooling2D((2, 2)), layers.Dropout(0.25),
                      conv(64, "same"), conv(64), layers.MaxPooling2D((2, 2)), layers.Dropout(0.25),
                      layers.Flatten(), layers.Dense(256, activation="relu"), layers.Dropout(0.5)], 64, 640),
}


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "mlp"
    body, batch, samples = MODELS[name]
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else samples
    data = pathlib.Path(__file__).resolve().parent.parent / "assets" / "fashion-mnist"
    shape = (784,) if name == "mlp" else (28, 28, 1)
    x = idx(data / "train-images-idx3-ubyte.gz", 16).reshape(-1, *shape)[:samples].astype("float32") / 255.0
    y = idx(data / "train-labels-idx1-ubyte.gz", 8)[:samples]
    model = tf.keras.Sequential([tf.keras.Input(shape), *body(), layers.Dense(10, activation="softmax")])
    # The BN CNN's cosine schedule (benchmarks/keras_convnets.py's); Adam's defaults otherwise.
    schedule = tf.keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=9380)
    optimizer = tf.keras.optimizers.Adam(learning_rate=schedule) if name == "bn_cnn" else "adam"
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    times = EpochTimes()
    model.fit(x, y, batch_size=batch, epochs=EPOCHS, verbose=0, callbacks=[times])
    rates = [len(x) / s for s in times.seconds[1:]]
    print(f"keras {name} batch {batch} on {len(x)} samples: {statistics.median(rates):.0f} samples/s "
          f"(median of {len(rates)} epochs, {min(rates):.0f}-{max(rates):.0f}), TensorFlow {tf.__version__}")


if __name__ == "__main__":
    main()
