"""The reference for the real-GPU speed goals: the seed MLP (784-128-10) and the seed CNN
(Conv2D 32 3x3 relu, MaxPool 2x2, Dense 128 relu, Dense 10), Adam, batch 32, trained in PyTorch
eager mode on the GPU over full Fashion-MNIST (60 000 samples, shuffled every epoch), and
FP32 SGEMM 4096 through cuBLAS with TF32 off. Epochs are timed as `wgtrain train` reports them
(wall clock from the epoch's start until its work is done), with the data resident on the
device; the first epoch is a warm-up, the figure the median of the others.

    python3 benchmarks/torch_seed_models.py DIR   # DIR holds the four Fashion-MNIST .gz files
"""

import gzip
import pathlib
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

EPOCHS, BATCH = 4, 32


def idx(path: pathlib.Path, header: int) -> np.ndarray:
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=header)


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(32 * 13 * 13, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def epoch_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Seconds of each epoch (softmax cross-entropy, Adam lr 1e-3 as Keras')."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    seconds = []
    for _ in range(EPOCHS):
        torch.cuda.synchronize()
        start = time.perf_counter()
        order = torch.randperm(len(x), device=x.device)
        for i in range(0, len(x), BATCH):
            rows = order[i:i + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[rows]), y[rows])
            loss.backward()
            opt.step()
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return seconds


def sgemm_tflops(n: int) -> float:
    torch.backends.cuda.matmul.allow_tf32 = False
    a, b = torch.randn(n, n, device="cuda"), torch.randn(n, n, device="cuda")
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(20):
        start.record()
        a @ b
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return 2 * n**3 / statistics.median(times) / 1e12


def main():
    data = pathlib.Path(sys.argv[1])
    images = idx(data / "train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    x = torch.tensor(images, dtype=torch.float32, device="cuda") / 255.0
    y = torch.tensor(idx(data / "train-labels-idx1-ubyte.gz", 8), dtype=torch.long, device="cuda")
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}, {len(x)} samples, batch {BATCH}")
    print(f"  sgemm 4096 fp32 (cuBLAS, TF32 off): {sgemm_tflops(4096):.1f} TFLOP/s")
    for name, make in [("mlp", mlp), ("cnn", cnn)]:
        torch.manual_seed(42)
        seconds = epoch_seconds(make().cuda(), x, y)[1:]
        median = statistics.median(seconds)
        print(f"  {name}: {median:.3f} s/epoch, {len(x) / median:.0f} samples/s "
              f"(median of {len(seconds)} epochs after a warm-up: {', '.join(f'{s:.3f}' for s in seconds)})")


if __name__ == "__main__":
    main()
