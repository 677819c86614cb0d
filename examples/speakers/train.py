"""Train the speaker-identification MLP and write model.onnx, test.npz and calibration.npz.

    python examples/speakers/train.py [--per-speaker N] [--epochs N] [--seed S]

Synthesises the corpus with espeak-ng (make_audio.py), computes MFCCs (features.py) and
splits by utterance: the windows of one utterance all land in one split. Training draws
fresh random voiced windows from every training utterance each epoch; calibration and
test hold fixed windows. The ONNX model takes raw (unnormalised) feature windows: its
first two nodes subtract the training mean and multiply by the inverse standard
deviation. Needs espeak-ng and the `train` extra (torch).
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
from onnx import numpy_helper
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from features import FEATURES, mfcc, voiced_starts, window  # noqa: E402
from make_audio import SPEAKERS, plan, synthesize_all  # noqa: E402
from onnx_export import finish_model, normalized_mlp  # noqa: E402

INPUT, OUTPUT = "input", "logits"
WIDTHS = (FEATURES, 512, 512, 256, len(SPEAKERS))


def prepare(per_speaker: int, seed: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(speaker, MFCCs [T, N_MFCC], voiced window starts) per usable utterance."""
    utterances = plan(per_speaker, seed)
    start = time.perf_counter()
    signals = synthesize_all(utterances)
    print(f"synthesised {len(signals)} utterances in {time.perf_counter() - start:.0f} s")
    prepared = []
    for utterance, signal in zip(utterances, signals):
        coefficients, energy = mfcc(signal)
        starts = voiced_starts(energy)
        if len(starts):
            prepared.append((utterance.speaker, coefficients, starts))
    return prepared


def split(
    prepared: list, n_test: int, n_calibration: int, seed: int
) -> dict[str, list[tuple[int, np.ndarray, np.ndarray]]]:
    """Per speaker, a seeded shuffle of its utterances: n_test to test, n_calibration to
    calibration, the rest to train."""
    rng = np.random.default_rng(seed + 1)
    splits: dict[str, list] = {"train": [], "calibration": [], "test": []}
    for speaker in range(len(SPEAKERS)):
        own = [p for p in prepared if p[0] == speaker]
        order = rng.permutation(len(own))
        for rank, i in enumerate(order):
            name = "test" if rank < n_test else "calibration"
            name = "train" if rank >= n_test + n_calibration else name
            splits[name].append(own[i])
    return splits


def windows(
    utterances: list, per_utterance: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(features [N, FEATURES] float32, labels [N] int64): random voiced windows, distinct
    within an utterance where it has enough."""
    x, y = [], []
    for speaker, coefficients, starts in utterances:
        replace = len(starts) < per_utterance
        for start in rng.choice(starts, size=per_utterance, replace=replace):
            x.append(window(coefficients, int(start)))
            y.append(speaker)
    return np.stack(x).astype(np.float32), np.asarray(y, dtype=np.int64)


def mlp() -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(WIDTHS) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def train(model: nn.Sequential, utterances: list, mean, scale, epochs: int, seed: int) -> None:
    rng = np.random.default_rng(seed + 2)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    batch, per_utterance = 128, 8
    steps_per_epoch = (len(utterances) * per_utterance + batch - 1) // batch
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=1e-3, total_steps=epochs * steps_per_epoch
    )
    model.train()
    for epoch in range(epochs):
        features, labels = windows(utterances, per_utterance, rng)
        x = torch.from_numpy((features - mean) * scale)
        y = torch.from_numpy(labels)
        order = torch.randperm(len(y), generator=generator)
        total = hits = 0.0
        for start in range(0, len(y), batch):
            part = order[start : start + batch]
            logits = model(x[part])
            loss = nn.functional.cross_entropy(logits, y[part])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(part)
            hits += float((logits.argmax(1) == y[part]).sum())
        if epoch % 5 == 4 or epoch == epochs - 1:
            print(f"epoch {epoch + 1:3d}  loss {total / len(y):.4f}  train acc {hits / len(y):.4f}")
    model.eval()


def to_onnx(model: nn.Sequential, mean: np.ndarray, scale: np.ndarray) -> onnx.ModelProto:
    linears = [layer for layer in model if isinstance(layer, nn.Linear)]
    nodes, initializers = normalized_mlp(linears, mean, scale, INPUT, OUTPUT)
    return finish_model(
        nodes, "speaker_mlp", {INPUT: [1, FEATURES]}, {OUTPUT: [1, len(SPEAKERS)]}, initializers
    )


def onnx_accuracy(path: str, features: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the ONNX model under onnxruntime, one example (batch 1) at a time."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    hits = sum(
        int(session.run(None, {INPUT: features[i : i + 1]})[0].argmax() == labels[i])
        for i in range(len(labels))
    )
    return hits / len(labels)


def summary(onnx_model: onnx.ModelProto) -> None:
    """Per Gemm: parameters, MACs at batch 1, and the ranks holding 95%/99% of the squared
    singular values of its weight matrix."""
    print(f"{'layer':6} {'weight':>12} {'params':>9} {'MACs':>10}  rank95 rank99 of")
    params = 0
    for init in onnx_model.graph.initializer:
        if not init.name.endswith(".weight"):
            continue
        w = numpy_helper.to_array(init)
        s = np.linalg.svd(w, compute_uv=False)
        energy = np.cumsum(s**2) / np.sum(s**2)
        r95, r99 = (int(np.searchsorted(energy, q) + 1) for q in (0.95, 0.99))
        print(
            f"{init.name.split('.')[0]:6} {str(list(w.shape)):>12} {w.size + w.shape[0]:9d} "
            f"{w.size:10d}  {r95:6d} {r99:6d} {min(w.shape):3d}"
        )
        params += w.size + w.shape[0]
    print(f"{'total':6} {'':>12} {params:9d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-speaker", type=int, default=300, help="utterances per speaker")
    parser.add_argument("--test", type=int, default=50, help="test utterances per speaker")
    parser.add_argument("--calibration", type=int, default=15, help="per speaker")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    splits = split(prepare(args.per_speaker, args.seed), args.test, args.calibration, args.seed)
    rng = np.random.default_rng(args.seed + 3)
    held_out = {name: windows(splits[name], 2, rng) for name in ("calibration", "test")}
    sample, _ = windows(splits["train"], 8, rng)
    mean, scale = sample.mean(0), 1.0 / sample.std(0)
    for name, utterances in splits.items():
        count = f", {len(held_out[name][1])} windows" if name in held_out else ""
        print(f"{name:12} {len(utterances)} utterances{count}")

    model = mlp()
    start = time.perf_counter()
    train(model, splits["train"], mean, scale, args.epochs, args.seed)
    print(f"trained in {time.perf_counter() - start:.0f} s")

    path = os.path.join(HERE, "model.onnx")
    onnx_model = to_onnx(model, mean, scale)
    onnx.save(onnx_model, path)
    for name, (features, labels) in held_out.items():
        np.savez(os.path.join(HERE, f"{name}.npz"), **{INPUT: features, "labels": labels})
    print(f"wrote {os.path.relpath(path)} and the calibration/test splits")

    for name, (features, labels) in held_out.items():
        accuracy = onnx_accuracy(path, features, labels)
        print(f"{name:12} accuracy (onnxruntime, batch 1): {accuracy:.4f}")
    summary(onnx_model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
