"""The quick start: build the default example for the host, run it, compare with onnxruntime."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx")
BUNDLE = os.path.join(ROOT, "out", "tiny_cnn")
DEEPXC = os.path.join(os.path.dirname(sys.executable), "deepxc")


def step(*argv: str) -> None:
    print(
        "$ " + " ".join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a for a in argv),
        flush=True,
    )
    subprocess.run(argv, check=True)


def main() -> int:
    model = MODEL
    image = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        inputs, outputs = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(inputs, image=image)
        step(DEEPXC, "build", model, "--target", "host", "-o", BUNDLE)
        step(DEEPXC, "run", BUNDLE, "-i", inputs, "-o", outputs, "--bench", "20")
        ours = np.load(outputs)["probs"]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    reference = session.run(None, {"image": image})[0]
    diff = float(np.max(np.abs(ours - reference)))
    print(
        f"onnxruntime: argmax {int(reference.argmax())}, deepxc: argmax {int(ours.argmax())}, "
        f"max abs diff {diff:.2e}"
    )
    ok = diff <= 1e-4 * float(np.max(np.abs(reference)))
    print("MATCH: deepxc agrees with onnxruntime" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
