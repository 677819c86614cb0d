"""Train the speaker-embedding MLP; write model.onnx, calibration.npz, trials.npz,
task.json and samples/.

    python examples/speaker_auth/train.py [--epochs N] [--seed S] [--cache FILE.npz]

Synthesises the corpus (make_data.py: speakers and sentences split, festival and
espeak-ng voices), computes MFCCs with the shared front end (deepxc/demo/features.py)
and trains a window model whose last hidden layer is the speaker embedding, with an
additive-margin softmax over the training speakers. The exported ONNX model drops the
classifier: its output `embedding` is what verification scores (deepxc/demo/
verification.py). Its first two nodes normalise the raw features with the training
set's statistics. `--cache` keeps the features of a first run in a file so that a
second run skips synthesis. Needs espeak-ng, festival and the `train` extra (torch).
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
from onnx import numpy_helper
from scipy.io import wavfile
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import make_data  # noqa: E402
from onnx_export import finish_model, normalized_mlp  # noqa: E402
from trials import score_trials  # noqa: E402
from voices import Request, synthesize_all  # noqa: E402

from deepxc.demo import verification  # noqa: E402
from deepxc.demo.features import N_MFCC, RATE, mfcc, voiced_starts, window_at  # noqa: E402

INPUT, OUTPUT = "input", "embedding"
WINDOW = 40  # frames: 0.415 s
FEATURES = WINDOW * N_MFCC
WIDTHS = (FEATURES, 512, 512, 256)  # the last is the embedding
MARGIN, LOGIT_SCALE = 0.2, 30.0
SAMPLE_SPEAKERS = 2  # held-out speakers with WAV files in samples/
SAMPLE_FILES = make_data.ENROLL + 2


def features(split: make_data.Split, audio: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Training windows are drawn later from each training utterance's MFCCs and voiced
    starts; calibration windows are one per calibration utterance; the held-out
    utterances become trials (verification.utterance_windows)."""
    out: dict[str, list] = {k: [] for k in ("coeffs", "starts", "label", "cal", "cal_label")}
    trials: dict[str, list] = {k: [] for k in ("input", "speaker", "utterance", "enroll")}
    rng = np.random.default_rng(7)
    for utterance, signal in zip(split.utterances, audio):
        if utterance.role in ("train", "calibration"):
            coefficients, energy = mfcc(signal.astype(np.float64))
            starts = voiced_starts(energy, WINDOW)
            if not len(starts):
                continue
            if utterance.role == "train":
                out["coeffs"].append(coefficients)
                out["starts"].append(starts)
                out["label"].append(utterance.speaker)
            else:
                out["cal"].append(window_at(coefficients, int(rng.choice(starts)), WINDOW))
                out["cal_label"].append(utterance.speaker)
        else:
            windows = verification.utterance_windows(signal, WINDOW)
            index = trials["utterance"][-1][0] + 1 if trials["utterance"] else 0
            trials["input"].append(windows)
            trials["speaker"].append(np.full(len(windows), utterance.speaker))
            trials["utterance"].append(np.full(len(windows), index))
            trials["enroll"].append(np.full(len(windows), utterance.role == "enroll"))
    lengths = np.array([len(c) for c in out["coeffs"]])
    return {
        "coeffs": np.concatenate(out["coeffs"]),
        "offsets": np.concatenate([[0], np.cumsum(lengths)[:-1]]),
        "starts": np.concatenate(out["starts"]),
        "start_counts": np.array([len(s) for s in out["starts"]]),
        "label": np.array(out["label"], dtype=np.int64),
        "cal_input": np.stack(out["cal"]).astype(np.float32),
        "cal_label": np.array(out["cal_label"], dtype=np.int64),
        "input": np.concatenate(trials["input"]).astype(np.float32),
        "speaker": np.concatenate(trials["speaker"]).astype(np.int64),
        "utterance": np.concatenate(trials["utterance"]).astype(np.int64),
        "enroll": np.concatenate(trials["enroll"]),
    }


def train_windows(data: dict, per_utterance: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Random voiced windows from every training utterance: [N, FEATURES], labels [N]."""
    bounds = np.concatenate([[0], np.cumsum(data["start_counts"])])
    x, y = [], []
    for i, label in enumerate(data["label"]):
        starts = data["starts"][bounds[i] : bounds[i + 1]]
        coefficients = data["coeffs"][data["offsets"][i] :]
        for start in rng.choice(starts, size=per_utterance):
            x.append(window_at(coefficients, int(start), WINDOW))
            y.append(label)
    return np.stack(x).astype(np.float32), np.asarray(y, dtype=np.int64)


class Embedder(nn.Module):
    def __init__(self, speakers: int):
        super().__init__()
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(WIDTHS) - 2:
                layers += [nn.ReLU(), nn.Dropout(0.1)]
        self.body = nn.Sequential(*layers)
        self.classes = nn.Parameter(torch.randn(speakers, WIDTHS[-1]) * 0.01)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Additive-margin softmax logits: scaled cosines, the true class's less MARGIN."""
        embedding = nn.functional.normalize(self.body(x), dim=1)
        cosine = embedding @ nn.functional.normalize(self.classes, dim=1).T
        margin = nn.functional.one_hot(labels, cosine.shape[1]) * MARGIN
        return LOGIT_SCALE * (cosine - margin)


def train(model: Embedder, data: dict, mean, scale, epochs: int, seed: int) -> None:
    rng = np.random.default_rng(seed + 2)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    batch, per_utterance = 256, 8
    steps = (len(data["label"]) * per_utterance + batch - 1) // batch
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=2e-3, total_steps=epochs * steps
    )
    model.train()
    for epoch in range(epochs):
        x_all, y_all = train_windows(data, per_utterance, rng)
        x = torch.from_numpy((x_all - mean) * scale)
        y = torch.from_numpy(y_all)
        order = torch.randperm(len(y), generator=generator)
        total = hits = 0.0
        for start in range(0, len(y), batch):
            part = order[start : start + batch]
            logits = model(x[part], y[part])
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


def to_onnx(model: Embedder, mean: np.ndarray, scale: np.ndarray) -> onnx.ModelProto:
    linears = [layer for layer in model.body if isinstance(layer, nn.Linear)]
    nodes, initializers = normalized_mlp(linears, mean, scale, INPUT, OUTPUT)
    return finish_model(
        nodes, "speaker_embedding", {INPUT: [1, FEATURES]}, {OUTPUT: [1, WIDTHS[-1]]}, initializers
    )


def onnx_embeddings(path: str, windows: np.ndarray) -> np.ndarray:
    """The model's output for every window under onnxruntime, one window (batch 1) at a time."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {INPUT: w[None]})[0] for w in windows])


def write_samples(split: make_data.Split, seed: int) -> list[str]:
    """samples/<speaker>/<n>.wav: short held-out sentences (read by no training speaker)
    of the first festival and the first espeak-ng held-out speaker; the first ENROLL
    files by name enroll, the rest are trials."""
    held = split.held_out_speakers
    chosen = [next(v for v in held if v.real), next(v for v in held if not v.real)]
    used = {u.request.text for u in split.utterances}
    rng = np.random.default_rng(seed + 5)
    texts = make_data.sentences(SAMPLE_SPEAKERS * SAMPLE_FILES, 3, 4, rng, used)
    requests = [
        Request(voice, texts[k * SAMPLE_FILES + n], rate=1.1, seed=int(rng.integers(2**31)))
        for k, voice in enumerate(chosen)
        for n in range(SAMPLE_FILES)
    ]
    folder = os.path.join(HERE, "samples")
    shutil.rmtree(folder, ignore_errors=True)
    for i, audio in enumerate(synthesize_all(requests)):
        speaker = requests[i].voice.name.replace("+", "-")  # a plain name for URLs
        os.makedirs(os.path.join(folder, speaker), exist_ok=True)
        pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
        wavfile.write(os.path.join(folder, speaker, f"{i % SAMPLE_FILES}.wav"), RATE, pcm)
    return [voice.name.replace("+", "-") for voice in chosen]


def summary(onnx_model: onnx.ModelProto) -> None:
    print(f"{'layer':6} {'weight':>12} {'params':>9} {'MACs':>10}  rank95 rank99 of")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", help="features file: written on the first run, then read")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)

    split = make_data.plan(args.seed)
    if args.cache and os.path.exists(args.cache):
        with np.load(args.cache) as cached:
            data = {key: cached[key] for key in cached.files}
    else:
        data = features(split, make_data.synthesize(split))
        if args.cache:
            np.savez(args.cache, **data)
    rng = np.random.default_rng(args.seed + 3)
    sample, _ = train_windows(data, 4, rng)
    mean, scale = sample.mean(0), 1.0 / sample.std(0)
    print(
        f"train: {len(split.train_speakers)} speakers, {len(data['label'])} utterances; "
        f"held out: {len(split.held_out_speakers)} speakers, "
        f"{int(data['utterance'].max()) + 1} utterances, {len(data['input'])} windows"
    )

    model = Embedder(len(split.train_speakers))
    start = time.perf_counter()
    train(model, data, mean, scale, args.epochs, args.seed)
    print(f"trained in {time.perf_counter() - start:.0f} s")

    path = os.path.join(HERE, "model.onnx")
    onnx_model = to_onnx(model, mean, scale)
    onnx.save(onnx_model, path)
    np.savez(
        os.path.join(HERE, "calibration.npz"), input=data["cal_input"], labels=data["cal_label"]
    )
    names = np.array([voice.name for voice in split.held_out_speakers])
    trial_keys = ("input", "speaker", "utterance", "enroll")
    np.savez_compressed(
        os.path.join(HERE, "trials.npz"), names=names, **{k: data[k] for k in trial_keys}
    )
    embeddings = onnx_embeddings(path, data["input"])
    scores = score_trials(embeddings, data["speaker"], data["utterance"], data["enroll"])
    eer, threshold = scores.eer()
    print(
        f"held-out trials: {len(scores.genuine)} genuine, {len(scores.impostor)} impostor; "
        f"EER {eer:.2%} at threshold {threshold:.3f} (onnxruntime)"
    )
    sample_speakers = write_samples(split, args.seed)
    task = {
        "title": "Speaker authentication",
        "kind": "speaker-auth",
        "model": "model.onnx",
        "window": WINDOW,
        "threshold": round(threshold, 4),
        "enroll": make_data.ENROLL,
        "test": "trials.npz",
        "calibration": "calibration.npz",
        "about": (
            f"Enroll a voice with {make_data.ENROLL} utterances, then accept or reject "
            "new ones; the model never heard these speakers."
        ),
    }
    with open(os.path.join(HERE, "task.json"), "w") as handle:
        json.dump(task, handle, indent=2)
        handle.write("\n")
    print(f"wrote model.onnx, calibration.npz, trials.npz, task.json, samples/ ({sample_speakers})")
    summary(onnx_model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
