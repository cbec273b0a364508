"""The Keras references of the convnet presets (`train_convnet`, `train_convnet --bn`): the
same models, settings and data, trained by Keras 3 on TensorFlow-CPU, printing each epoch's
line and the test accuracy, to stand beside wgtrain's:

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install "tensorflow-cpu==2.21.*"
    /tmp/tf/bin/python benchmarks/keras_convnets.py convnet [DATA_DIR]
    /tmp/tf/bin/python benchmarks/keras_convnets.py bn_cnn [DATA_DIR]

DATA_DIR is an MNIST-format folder (default: the bundled subset in assets/fashion-mnist).
"""

import gzip
import pathlib
import sys

import numpy as np
import keras
from keras import layers


def idx(path: pathlib.Path, header: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=header)


def load(folder: pathlib.Path, split: str):
    name = lambda kind, dims: next(folder.glob(f"{split}-{kind}-idx{dims}-ubyte*"))
    x = idx(name("images", 3), 16).reshape(-1, 28, 28, 1).astype("float32") / 255.0
    return x, idx(name("labels", 1), 8)


def convnet():
    # keras.io's "Simple MNIST convnet".
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    return model, "adam", dict(batch_size=128, epochs=15, validation_split=0.1)


def bn_cnn():
    def block(filters):
        return [layers.Conv2D(filters, 3, padding="same", use_bias=False), layers.BatchNormalization(),
                layers.Activation("relu")]
    model = keras.Sequential([keras.Input((28, 28, 1)), *block(16), layers.MaxPooling2D(2), *block(32),
                              layers.MaxPooling2D(2), *block(64), layers.GlobalAveragePooling2D(),
                              layers.Dense(10, activation="softmax")])
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=9380)
    return model, keras.optimizers.Adam(learning_rate=schedule), dict(batch_size=64, epochs=10)


def main():
    which = sys.argv[1]
    root = pathlib.Path(__file__).resolve().parent.parent
    folder = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else root / "assets" / "fashion-mnist"
    (x, y), (x_test, y_test) = load(folder, "train"), load(folder, "t10k")
    model, optimizer, fit = {"convnet": convnet, "bn_cnn": bn_cnn}[which]()
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if "validation_split" not in fit:
        fit["validation_data"] = (x_test, y_test)
    model.fit(x, y, verbose=2, **fit)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"keras {which} test: loss {loss:.4f} - accuracy {accuracy:.4f} ({len(x_test)} samples)")


if __name__ == "__main__":
    main()
