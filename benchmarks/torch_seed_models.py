"""The reference for the real-GPU speed goals: the seed MLP (784-128-10), the seed CNN (Conv2D 32
3x3 relu, MaxPool 2x2, Dense 128 relu, Dense 10; both Adam, batch 32) and the 4-conv CNN (wgtrain's
`cnn4` preset, batch 64), trained in PyTorch on the GPU over full Fashion-MNIST (60 000 samples,
shuffled every epoch), each in three modes: eager; the whole training step captured in a CUDA
graph (static input buffers, `capturable=True` Adam); and `torch.compile` of the model. Also FP32
SGEMM 4096 through cuBLAS with TF32 off. Epochs are timed as `wgtrain train` reports them (wall
clock from the epoch's start until its work is done), with the data resident on the device; the
first epoch is a warm-up (it also compiles and captures), the figure the median of the others.
The CUDA-graph mode trains whole batches only (its shapes are fixed): 59 968 samples at batch 64.

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

EPOCHS = 4


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


def cnn4() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding="same"), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Conv2d(32, 64, 3, padding="same"), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(),
        nn.Linear(64 * 5 * 5, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10),
    )


def adam(model: nn.Module, capturable: bool = False) -> torch.optim.Optimizer:
    # Keras's Adam: lr 1e-3, epsilon 1e-7.
    return torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, capturable=capturable)


def timed_epochs(step, x: torch.Tensor, y: torch.Tensor, batch: int, whole_batches: bool) -> list[float]:
    """Seconds of each epoch of `step(x_batch, y_batch)` over shuffled batches."""
    end = len(x) - len(x) % batch if whole_batches else len(x)
    seconds = []
    for _ in range(EPOCHS):
        torch.cuda.synchronize()
        start = time.perf_counter()
        order = torch.randperm(len(x), device=x.device)
        for i in range(0, end, batch):
            rows = order[i:i + batch]
            step(x[rows], y[rows])
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return seconds


def eager_step(model: nn.Module):
    opt, loss_fn = adam(model), nn.CrossEntropyLoss()

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        opt.step()
    return step


def graphed_step(model: nn.Module, batch: int):
    """The whole step (forward, backward, Adam) captured once and replayed on static inputs,
    as PyTorch's CUDA-graph guide captures a whole network."""
    opt, loss_fn = adam(model, capturable=True), nn.CrossEntropyLoss()
    static_x = torch.zeros(batch, 1, 28, 28, device="cuda")
    static_y = torch.zeros(batch, dtype=torch.long, device="cuda")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(static_x), static_y).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        loss_fn(model(static_x), static_y).backward()
        opt.step()

    def step(xb, yb):
        static_x.copy_(xb)
        static_y.copy_(yb)
        graph.replay()
    return step


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
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}, {len(x)} samples")
    print(f"  sgemm 4096 fp32 (cuBLAS, TF32 off): {sgemm_tflops(4096):.1f} TFLOP/s")
    modes = {
        "eager": lambda model, batch: eager_step(model),
        "cuda-graph": graphed_step,
        "compile": lambda model, batch: eager_step(torch.compile(model)),
    }
    for name, make, batch in [("mlp", mlp, 32), ("cnn", cnn, 32), ("cnn4", cnn4, 64)]:
        for mode, stepper in modes.items():
            torch.manual_seed(42)
            step = stepper(make().cuda(), batch)
            whole = mode == "cuda-graph"
            seconds = timed_epochs(step, x, y, batch, whole)[1:]
            median = statistics.median(seconds)
            samples = len(x) - len(x) % batch if whole else len(x)
            print(f"  {name} batch {batch} {mode}: {median:.3f} s/epoch, {samples / median:.0f} samples/s "
                  f"(median of {len(seconds)} epochs after a warm-up: {', '.join(f'{s:.3f}' for s in seconds)})")


if __name__ == "__main__":
    main()
