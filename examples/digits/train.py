"""Train the digits CNN and write model.onnx, test.npz and calibration.npz next to this file.

    python examples/digits/train.py [--epochs N] [--seed S]

Data: scikit-learn's handwritten digits (1797 scans of 8x8 pixels, 10 classes), scaled to
[0, 1] and upsampled to 16x16 (bilinear). Stratified split with a fixed seed: 60% train,
20% calibration, 20% test. Needs the `train` extra (torch, scikit-learn).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper
from scipy.ndimage import zoom
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from onnx_export import finish_model  # noqa: E402

INPUT, OUTPUT = "input", "logits"
SIDE = 16


def load_splits(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(images [N, 1, 16, 16] float32 in [0, 1], labels [N] int64) per split."""
    digits = load_digits()
    images = zoom(digits.images / 16.0, (1, SIDE / 8, SIDE / 8), order=1)
    images = np.clip(images, 0.0, 1.0).astype(np.float32)[:, None]
    labels = digits.target.astype(np.int64)
    index = np.arange(len(labels))
    rest, test = train_test_split(index, test_size=0.2, stratify=labels, random_state=seed)
    train, calibration = train_test_split(
        rest, test_size=0.25, stratify=labels[rest], random_state=seed
    )
    return {
        name: (images[part], labels[part])
        for name, part in (("train", train), ("calibration", calibration), ("test", test))
    }


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (SIDE // 4) ** 2, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv3(x)), 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def shift(batch: torch.Tensor, generator: torch.Generator, most: int = 2) -> torch.Tensor:
    """Move each image by a random whole number of pixels in [-most, most] on both axes."""
    n = batch.shape[0]
    padded = nn.functional.pad(batch, (most, most, most, most))
    dy, dx = torch.randint(0, 2 * most + 1, (2, n), generator=generator)
    rows = dy[:, None] + torch.arange(SIDE)[None]  # [n, 16]
    cols = dx[:, None] + torch.arange(SIDE)[None]
    picked = padded[torch.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]]
    return picked[:, None]


def train(model: nn.Module, images: np.ndarray, labels: np.ndarray, epochs: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    steps_per_epoch = (len(y) + 63) // 64
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=2e-3, total_steps=epochs * steps_per_epoch
    )
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        total = 0.0
        for start in range(0, len(y), 64):
            batch = order[start : start + 64]
            loss = nn.functional.cross_entropy(model(shift(x[batch], generator)), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        if epoch % 10 == 9 or epoch == epochs - 1:
            print(f"epoch {epoch + 1:3d}  loss {total / len(y):.4f}", flush=True)
    model.eval()


def to_onnx(model: DigitsCNN) -> onnx.ModelProto:
    weights = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    initializers = [numpy_helper.from_array(v, k) for k, v in weights.items()]
    pool = {"kernel_shape": [2, 2], "strides": [2, 2]}
    nodes = [
        helper.make_node("Conv", [INPUT, "conv1.weight", "conv1.bias"], ["c1"], "conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], "relu1"),
        helper.make_node("Conv", ["r1", "conv2.weight", "conv2.bias"], ["c2"], "conv2",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], "relu2"),
        helper.make_node("MaxPool", ["r2"], ["p2"], "pool2", **pool),
        helper.make_node("Conv", ["p2", "conv3.weight", "conv3.bias"], ["c3"], "conv3",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c3"], ["r3"], "relu3"),
        helper.make_node("MaxPool", ["r3"], ["p3"], "pool3", **pool),
        helper.make_node("Flatten", ["p3"], ["flat"], "flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["f1"], "fc1", transB=1),
        helper.make_node("Relu", ["f1"], ["r4"], "relu4"),
        helper.make_node("Gemm", ["r4", "fc2.weight", "fc2.bias"], [OUTPUT], "fc2", transB=1),
    ]  # fmt: skip
    return finish_model(
        nodes, "digits_cnn", {INPUT: [1, 1, SIDE, SIDE]}, {OUTPUT: [1, 10]}, initializers
    )


def onnx_accuracy(path: str, images: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the ONNX model under onnxruntime, one example (batch 1) at a time."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    hits = sum(
        int(session.run(None, {INPUT: images[i : i + 1]})[0].argmax() == labels[i])
        for i in range(len(labels))
    )
    return hits / len(labels)


def summary(onnx_model: onnx.ModelProto) -> None:
    """Per weight layer: parameters, MACs at batch 1, and the ranks holding 95%/99% of the
    squared singular values of the weight matrix (conv weights as [Cout, Cin*kh*kw])."""
    macs_per_weight = {"conv1": SIDE**2, "conv2": SIDE**2, "conv3": (SIDE // 2) ** 2}
    print(f"{'layer':6} {'weight':>16} {'params':>9} {'MACs':>10}  rank95 rank99 of")
    params = macs = 0
    for init in onnx_model.graph.initializer:
        if not init.name.endswith(".weight"):
            continue
        layer = init.name.split(".")[0]
        w = numpy_helper.to_array(init)
        bias = w.shape[0]
        m = w.size * macs_per_weight.get(layer, 1)
        s = np.linalg.svd(w.reshape(w.shape[0], -1), compute_uv=False)
        energy = np.cumsum(s**2) / np.sum(s**2)
        r95, r99 = (int(np.searchsorted(energy, q) + 1) for q in (0.95, 0.99))
        print(
            f"{layer:6} {str(list(w.shape)):>16} {w.size + bias:9d} {m:10d}  "
            f"{r95:6d} {r99:6d} {min(w.shape[0], w[0].size):3d}"
        )
        params += w.size + bias
        macs += m
    print(f"{'total':6} {'':>16} {params:9d} {macs:10d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    splits = load_splits(args.seed)
    for name, (_, y) in splits.items():
        print(f"{name:12} {len(y)} examples")

    model = DigitsCNN()
    start = time.perf_counter()
    train(model, *splits["train"], epochs=args.epochs, seed=args.seed)
    print(f"trained in {time.perf_counter() - start:.0f} s")

    path = os.path.join(HERE, "model.onnx")
    onnx_model = to_onnx(model)
    onnx.save(onnx_model, path)
    for name in ("calibration", "test"):
        images, labels = splits[name]
        np.savez(os.path.join(HERE, f"{name}.npz"), **{INPUT: images, "labels": labels})
    print(f"wrote {os.path.relpath(path)} and the calibration/test splits")

    for name in ("train", "calibration", "test"):
        accuracy = onnx_accuracy(path, *splits[name])
        print(f"{name:12} accuracy (onnxruntime, batch 1): {accuracy:.4f}")
    summary(onnx_model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
