# Writes the Keras model JSON fixtures of tests/keras_json.rs (Keras 3, TensorFlow-CPU 2.21):
#   python benchmarks/keras_model_fixtures.py tests/fixtures/keras
import os, sys; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
from keras import layers
out = sys.argv[1]
def save(name, model):
    with open(os.path.join(out, name + ".json"), "w") as f:
        f.write(model.to_json())
save("seed_mlp", keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")]))
save("seed_cnn", keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)), layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")]))
save("convnet", keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Conv2D(32, kernel_size=(3, 3), activation="relu"), layers.MaxPooling2D(pool_size=(2, 2)), layers.Conv2D(64, kernel_size=(3, 3), activation="relu"), layers.MaxPooling2D(pool_size=(2, 2)), layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax")]))
save("batch_norm_cnn", keras.Sequential([keras.Input((28, 28, 1)),
    layers.Conv2D(32, 3, padding="same", use_bias=False), layers.BatchNormalization(), layers.Activation("relu"),
    layers.AveragePooling2D(2, strides=2), layers.Conv2D(64, 3, strides=2, padding="same", use_bias=False),
    layers.BatchNormalization(momentum=0.9, epsilon=1e-5, center=False), layers.Activation("relu"),
    layers.GlobalAveragePooling2D(), layers.Dense(32, activation="tanh"), layers.Dense(1, activation="sigmoid")]))
save("global_max", keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 2), layers.GlobalMaxPooling2D(keepdims=True), layers.Flatten(), layers.Dense(3, activation="linear")]))
save("lstm", keras.Sequential([keras.Input((10, 4)), layers.LSTM(8), layers.Dense(2, activation="softmax")]))
save("dilated", keras.Sequential([keras.Input((16, 16, 1)), layers.Conv2D(4, 3, dilation_rate=2), layers.Flatten(), layers.Dense(2, activation="softmax")]))
save("regularized", keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(2, 3, kernel_regularizer=keras.regularizers.L1(0.001)), layers.Flatten(),
    layers.Dense(8, activation="relu", kernel_regularizer="l2"), layers.Dense(2, activation="softmax", kernel_regularizer=keras.regularizers.L1L2(l1=0.01, l2=0.02))]))
save("bias_regularized", keras.Sequential([keras.Input((20,)), layers.Dense(8, activation="relu", bias_regularizer="l2"), layers.Dense(2, activation="softmax")]))
save("he_init", keras.Sequential([keras.Input((20,)), layers.Dense(8, activation="relu", kernel_initializer="he_normal"), layers.Dense(2, activation="softmax")]))
save("selu", keras.Sequential([keras.Input((20,)), layers.Dense(8, activation="selu"), layers.Dense(2, activation="softmax")]))
save("activations", keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(3, 3, activation="gelu"), layers.LeakyReLU(),
    layers.Flatten(), layers.Dense(8, activation="silu"), layers.ELU(alpha=0.5), layers.Dense(8, activation="swish"),
    layers.Activation("gelu"), layers.LeakyReLU(negative_slope=0.1), layers.Dense(2, activation="softmax")]))
block = lambda filters: [layers.Conv2D(filters, 3, padding="same", use_bias=False), layers.BatchNormalization(), layers.Activation("relu")]
save("bn_cnn", keras.Sequential([keras.Input((28, 28, 1)), *block(16), layers.MaxPooling2D(2), *block(32), layers.MaxPooling2D(2), *block(64),
    layers.GlobalAveragePooling2D(), layers.Dense(10, activation="softmax")]))
