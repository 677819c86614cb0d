"""Bundles with a remote partition for the end-to-end tests: build one from the digits
CNN, compute its partition as a server would (onnxruntime on the bundle's ONNX), and run
its driver (sanitized, or as built) on stacked examples against a server."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from harness import SANITIZER_EXIT, build_sanitized
from support import assert_close, quiet

from deepxc.emit.bundle import read_manifest
from deepxc.pipeline import build_model
from deepxc.runner import remote_stats

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DIGITS = EXAMPLES / "digits" / "model.onnx"
# conv2 .. flatten on the server: its middle (a tensor in, a tensor out)
MIDDLE = "remote,conv1=cpu,relu1=cpu,fc1=cpu,relu4=cpu,fc2=cpu"
TAIL = "fc1=remote,relu4=remote,fc2=remote"  # its classifier: the model's output


def build_remote(bundle, place: str = MIDDLE, target: str = "host", **options) -> dict:
    return build_model(onnx.load(DIGITS), target, str(bundle), log=quiet, place=place, **options)


def partition_compute(bundle):
    """What a server computes for the bundle's (only) remote partition."""
    (part,) = read_manifest(str(bundle))["remote"]["partitions"]
    session = ort.InferenceSession(os.path.join(str(bundle), part["onnx"]))

    def compute(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, inputs)))

    return compute


def digits_examples(count: int, seed: int = 0) -> np.ndarray:
    """`count` inputs of the digits CNN, [count, 1, 1, 16, 16]... as the model takes them."""
    model = onnx.load(DIGITS)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return np.random.default_rng(seed).standard_normal([count, *dims]).astype(np.float32)


def reference(examples: np.ndarray) -> np.ndarray:
    """onnxruntime's output of the whole model for each example."""
    session = ort.InferenceSession(str(DIGITS))
    name = session.get_inputs()[0].name
    return np.stack([session.run(None, {name: x})[0] for x in examples])


def check_outputs(outputs: np.ndarray, examples: np.ndarray) -> None:
    """Each example's output against onnxruntime's for the whole model."""
    for got, want in zip(outputs, reference(examples)):
        assert_close({"y": got}, {"y": want})


class Driver:
    """The bundle's driver, built with AddressSanitizer and UBSan (or as built), run on
    stacked examples with DEEPX_REMOTE set."""

    def __init__(self, bundle, work, sanitized: bool = True):
        self.bundle = str(bundle)
        self.work = Path(work)
        if sanitized:
            self.command, self.env = build_sanitized(
                self.bundle, "address,undefined", self.work / "model_asan"
            )
        else:
            manifest = read_manifest(self.bundle)
            self.command = [*manifest["runner"], os.path.join(self.bundle, "model")]
            self.env = {}

    def run(self, examples: np.ndarray, url: str | None, timeout: float = 300):
        """(outputs [N, ...], the remote stats) of one process running every example."""
        inputs, outputs = self.work / "in.npy", self.work / "out.npy"
        np.save(inputs, examples)
        env = {**os.environ, **self.env}
        env.pop("DEEPX_REMOTE", None)
        if url is not None:
            env["DEEPX_REMOTE"] = url
        command = [*self.command, "-w", os.path.join(self.bundle, "weights.bin")]
        command += ["-i", str(inputs), "-o", str(outputs), "--examples", str(len(examples))]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
        assert result.returncode != SANITIZER_EXIT, result.stderr[-4000:]
        assert result.returncode == 0, result.stderr[-2000:]
        return np.load(outputs), remote_stats(result.stdout)
