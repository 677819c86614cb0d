"""Train the keyword-spotting CNN; write model.onnx, test.npz, calibration.npz, samples/
and task.json.

    python examples/keywords/train.py [--per-keyword N] [--mixes N] [--epochs N] [--seed S]

Synthesises one-second clips of single words (make_audio.py) and splits them BY
SPEAKER: the test voices never speak in training. Every synthesised word is mixed into
several clips (resampling, noise, gain and time shift drawn afresh each time); each clip
becomes model inputs exactly as the demo reads a WAV
(`deepxc.demo.verification.utterance_windows` with a one-second window: one window per
one-second clip). The ONNX model takes raw (unnormalised) feature windows: its first two
nodes subtract the training mean and multiply by the inverse standard deviation, then a
Reshape makes them [1, 1, 98, 20]. Needs espeak-ng, festival and the `train` extra
(torch).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper
from scipy.io import wavfile
from torch import nn

from deepxc.demo.features import N_MFCC
from deepxc.demo.verification import utterance_windows

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from make_audio import LABELS, RATE, SPEAKERS, mix, plan, synthesize_all  # noqa: E402
from onnx_export import finish_model  # noqa: E402

INPUT, OUTPUT = "input", "logits"
WINDOW = 98  # frames: one second of audio (25 ms frames every 10 ms)
FEATURES = WINDOW * N_MFCC
CHANNELS = (64, 64, 128)
POOLED = WINDOW // 2 // 2  # frames after the two poolings
HIDDEN = 256
TEST_SHARE = 0.2  # of each engine's English voices: never heard in training


def voice_split(seed: int) -> dict[str, list[int]]:
    """Indices into SPEAKERS for training (and calibration, from other renditions of the
    same voices) and for test. Test: a seeded TEST_SHARE of each engine's English voices,
    so it holds a voice built from a real person's recordings as well as formant voices.
    Training: the other English voices and every non-English voice (English words with
    an accent)."""
    rng = np.random.default_rng(seed)
    test = []
    for engine in sorted({voice.engine for voice in SPEAKERS}):
        own = [i for i, v in enumerate(SPEAKERS) if v.engine == engine and v.language == "en"]
        test += [own[i] for i in rng.permutation(len(own))[: max(1, round(TEST_SHARE * len(own)))]]
    train = [i for i in range(len(SPEAKERS)) if i not in test]
    return {"train": train, "test": sorted(test)}


def clips(words: list, speech: list, mixes: int, rng) -> tuple[list, np.ndarray, np.ndarray]:
    """(`mixes` one-second clips of every word, their labels int64, their voices)."""
    signals, labels, voices = [], [], []
    for word, samples in zip(words, speech):
        if samples is None:  # the synthesiser failed on it
            continue
        for _ in range(mixes):
            signals.append(mix(samples, rng))
            labels.append(word.label)
            voices.append(word.voice)
    return signals, np.asarray(labels, dtype=np.int64), np.asarray(voices)


def windows(signals: list[np.ndarray]) -> np.ndarray:
    """[N, FEATURES] float32: the one window of each one-second clip."""
    return np.concatenate([utterance_windows(s, WINDOW) for s in signals])


class KeywordNet(nn.Module):
    """Convolutions over time (every MFCC coefficient an input channel), max pooling in
    time, then two fully connected layers. Conv1d here; the ONNX graph runs the same
    arithmetic as Conv on the input reshaped to [1, 1, WINDOW, N_MFCC]."""

    def __init__(self) -> None:
        super().__init__()
        self.convolutions = nn.Sequential(
            nn.Conv1d(N_MFCC, CHANNELS[0], 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(CHANNELS[0], CHANNELS[1], 3, padding=1),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(CHANNELS[1], CHANNELS[2], 3, padding=1),
            nn.ReLU(),
            nn.MaxPool1d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(CHANNELS[2] * POOLED, HIDDEN),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(HIDDEN, len(LABELS)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.reshape(-1, WINDOW, N_MFCC).transpose(1, 2)  # [N, coefficient, time]
        return self.classifier(self.convolutions(frames))


def train(model: KeywordNet, x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
    batch = 128
    steps_per_epoch = (len(y) + batch - 1) // batch
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=3e-3, total_steps=epochs * steps_per_epoch
    )
    features, labels = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(labels), generator=generator)
        total = hits = 0.0
        for start in range(0, len(labels), batch):
            part = order[start : start + batch]
            logits = model(features[part])
            loss = nn.functional.cross_entropy(logits, labels[part])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(part)
            hits += float((logits.argmax(1) == labels[part]).sum())
        if epoch % 5 == 4 or epoch == epochs - 1:
            print(f"epoch {epoch + 1:3d}  loss {total / len(y):.4f}  train acc {hits / len(y):.4f}")
    model.eval()


def to_onnx(model: KeywordNet, mean: np.ndarray, scale: np.ndarray) -> onnx.ModelProto:
    constants = {
        "mean": mean.reshape(1, -1),
        "scale": scale.reshape(1, -1),
        "frames_shape": np.array([1, 1, WINDOW, N_MFCC], dtype=np.int64),
    }
    nodes = [
        helper.make_node("Sub", [INPUT, "mean"], ["centred"], "normalize_sub"),
        helper.make_node("Mul", ["centred", "scale"], ["normalized"], "normalize_mul"),
        helper.make_node("Reshape", ["normalized", "frames_shape"], ["h0"], "frames"),
    ]
    convolutions = [m for m in model.convolutions if isinstance(m, nn.Conv1d)]
    for i, conv in enumerate(convolutions, start=1):
        weight = conv.weight.detach().numpy()  # [out, in, k]
        if i == 1:  # coefficients are the input's last axis: kernel [k, N_MFCC], 1 channel
            weight = weight.transpose(0, 2, 1)[:, None]
        else:
            weight = weight[..., None]
        constants[f"conv{i}.weight"] = weight
        constants[f"conv{i}.bias"] = conv.bias.detach().numpy()
        inputs = [f"h{i - 1}", f"conv{i}.weight", f"conv{i}.bias"]
        nodes += [
            helper.make_node("Conv", inputs, [f"c{i}"], f"conv{i}", pads=[1, 0, 1, 0]),
            helper.make_node("Relu", [f"c{i}"], [f"r{i}" if i > 1 else f"h{i}"], f"relu{i}"),
        ]
        if i > 1:
            nodes.append(
                helper.make_node(
                    "MaxPool", [f"r{i}"], [f"h{i}"], f"pool{i}", kernel_shape=[2, 1], strides=[2, 1]
                )
            )
    last = f"h{len(convolutions)}"
    nodes.append(helper.make_node("Flatten", [last], ["flat"], "flatten"))
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    for i, linear in enumerate(linears, start=1):
        name = f"fc{i}"
        constants[f"{name}.weight"] = linear.weight.detach().numpy()
        constants[f"{name}.bias"] = linear.bias.detach().numpy()
        source = "flat" if i == 1 else f"f{i - 1}"
        out = OUTPUT if i == len(linears) else f"g{i}"
        gemm_inputs = [source, f"{name}.weight", f"{name}.bias"]
        nodes.append(helper.make_node("Gemm", gemm_inputs, [out], name, transB=1))
        if i < len(linears):
            nodes.append(helper.make_node("Relu", [out], [f"f{i}"], f"fc_relu{i}"))
    initializers = [
        numpy_helper.from_array(
            value if value.dtype == np.int64 else value.astype(np.float32), name
        )
        for name, value in constants.items()
    ]
    return finish_model(
        nodes, "keyword_cnn", {INPUT: [1, FEATURES]}, {OUTPUT: [1, len(LABELS)]}, initializers
    )


def onnx_logits(path: str, features: np.ndarray) -> np.ndarray:
    """[N, classes] logits of the ONNX model under onnxruntime, one example at a time."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {INPUT: x[None]})[0] for x in features])


def confusion(labels: np.ndarray, predicted: np.ndarray) -> None:
    print(
        "per class (test): "
        + "  ".join(
            f"{name} {np.mean(predicted[labels == k] == k):.2f}" for k, name in enumerate(LABELS)
        )
    )


def write_samples(signals: list[np.ndarray], labels: np.ndarray, voices: np.ndarray) -> None:
    """One test clip of every label as samples/<label>_0.wav, the voices taken in turn."""
    folder = os.path.join(HERE, "samples")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    speakers = np.unique(voices)
    for k, name in enumerate(LABELS):
        own = np.flatnonzero(labels == k)
        i = next((i for i in own if voices[i] == speakers[k % len(speakers)]), own[0])
        pcm = np.round(np.clip(signals[i], -1.0, 1.0) * 32767.0).astype(np.int16)
        wavfile.write(os.path.join(folder, f"{name}_0.wav"), RATE, pcm)


def write_task() -> None:
    task = {
        "title": "Keyword spotting",
        "kind": "audio",
        "model": "model.onnx",
        "labels": LABELS,
        "window": WINDOW,
        "test": "test.npz",
        "calibration": "calibration.npz",
        "about": "Ten spoken commands, other words and silence, from one-second clips by "
        "synthetic voices that training never heard.",
    }
    with open(os.path.join(HERE, "task.json"), "w") as file:
        json.dump(task, file, indent=2)
        file.write("\n")


def summary(onnx_model: onnx.ModelProto) -> None:
    """Per Conv and Gemm: parameters, and the ranks holding 95%/99% of the squared
    singular values of its weight matrix (a conv's as [out, in * kh * kw])."""
    print(f"{'layer':6} {'matrix':>12} {'params':>9}  rank95 rank99 of")
    for init in onnx_model.graph.initializer:
        if not init.name.endswith(".weight"):
            continue
        w = numpy_helper.to_array(init)
        w = w.reshape(w.shape[0], -1)
        s = np.linalg.svd(w, compute_uv=False)
        energy = np.cumsum(s**2) / np.sum(s**2)
        r95, r99 = (int(np.searchsorted(energy, q) + 1) for q in (0.95, 0.99))
        name = init.name.split(".")[0]
        shape, params = str(list(w.shape)), w.size + w.shape[0]
        print(f"{name:6} {shape:>12} {params:9d}  {r95:6d} {r99:6d} {min(w.shape):3d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-keyword", type=int, default=6, help="renditions per voice")
    parser.add_argument("--mixes", type=int, default=4, help="training clips per rendition")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed + 1)
    voices = voice_split(args.seed)
    start = time.perf_counter()
    english = [i for i in voices["train"] if SPEAKERS[i].language == "en"]
    words = {
        "train": plan(
            voices["train"], args.per_keyword, 3 * args.per_keyword, args.per_keyword, args.seed + 2
        ),
        # other renditions by every second English training voice
        "calibration": plan(english[::2], 1, 1, 1, args.seed + 3),
        "test": plan(voices["test"], 3, 9, 3, args.seed + 4),
    }
    speech = {name: synthesize_all(w) for name, w in words.items()}
    print(
        f"synthesised {sum(map(len, words.values()))} words "
        f"({sum(s is None for part in speech.values() for s in part)} failed) in "
        f"{time.perf_counter() - start:.0f} s; {len(voices['train'])} training voices, test "
        f"voices: {', '.join(SPEAKERS[i].name for i in voices['test'])}"
    )
    start = time.perf_counter()
    data = {}
    for name in words:
        signals, labels, voices_of = clips(
            words[name], speech[name], args.mixes if name == "train" else 1, rng
        )
        data[name] = (signals, windows(signals), labels, voices_of)
        print(f"{name:12} {len(labels)} clips")
    print(f"features in {time.perf_counter() - start:.0f} s")

    x, y = data["train"][1], data["train"][2]
    del data["train"]
    mean, scale = x.mean(0), 1.0 / x.std(0)
    model = KeywordNet()
    start = time.perf_counter()
    train(model, (x - mean) * scale, y, args.epochs, args.seed)
    print(f"trained in {time.perf_counter() - start:.0f} s")

    path = os.path.join(HERE, "model.onnx")
    onnx_model = to_onnx(model, mean, scale)
    onnx.save(onnx_model, path)
    for name in ("calibration", "test"):
        _, features, labels, _ = data[name]
        np.savez(os.path.join(HERE, f"{name}.npz"), **{INPUT: features, "labels": labels})
    write_samples(data["test"][0], data["test"][2], data["test"][3])
    write_task()
    print(f"wrote {os.path.relpath(path)}, the calibration/test splits, samples/, task.json")

    for name in ("calibration", "test"):
        _, features, labels, _ = data[name]
        predicted = onnx_logits(path, features).argmax(1)
        print(f"{name:12} accuracy (onnxruntime, batch 1): {np.mean(predicted == labels):.4f}")
    confusion(data["test"][2], onnx_logits(path, data["test"][1]).argmax(1))
    summary(onnx_model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
