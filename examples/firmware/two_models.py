"""Two models in one firmware program: examples/tiny_cnn and examples/speakers.

    python examples/firmware/two_models.py [--target snapdragon-400] [-o out/two_models]

1. `deepxc build` each with --embed-weights and its own --name (cnn: 2 threads, spk: 1);
2. write examples.h: a seeded image, a speaker window from examples/speakers/test.npz,
   and onnxruntime's outputs for both on this machine;
3. compile two_models.c against both model.h files and link both libmodel.a statically;
4. run it (under qemu-user for ARM) and report its verdict.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from build import c_array, main, make_bundle  # noqa: E402

MODELS = {  # name: (model, threads)
    "cnn": (os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx"), 2),
    "spk": (os.path.join(ROOT, "examples", "speakers", "model.onnx"), 1),
}


def examples() -> dict[str, np.ndarray]:
    """An input per model: a seeded image, and the first speaker window of the test set."""
    image = np.random.default_rng(7).standard_normal((1, 3, 32, 32)).astype(np.float32)
    with np.load(os.path.join(ROOT, "examples", "speakers", "test.npz")) as test:
        window = test["input"][:1]
    return {"cnn": image, "spk": window}


def write_examples(out: str, inputs: dict, expected: dict) -> None:
    with open(os.path.join(out, "examples.h"), "w") as file:
        for name in MODELS:
            file.write(c_array(f"{name}_input", inputs[name]))
            file.write(c_array(f"{name}_expected", expected[name]))


def reference(inputs: dict) -> dict[str, np.ndarray]:
    outputs = {}
    for name, (model, _) in MODELS.items():
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        outputs[name] = session.run(None, {session.get_inputs()[0].name: inputs[name]})[0]
    return outputs


def compile_and_run(manifest: dict, out: str) -> int:
    """Link two_models.c with both libraries statically; return the program's status."""
    toolchain = manifest["toolchain"]
    program = os.path.join(out, "two_models")
    libraries = [os.path.join(out, name, "libmodel.a") for name in MODELS]
    command = [toolchain["cc"], *toolchain["cflags"], "-static", "-I", out]
    command += [os.path.join(HERE, "two_models.c"), *libraries, "-pthread", "-lm", "-o", program]
    subprocess.run(command, check=True)
    return subprocess.run([*manifest["runner"], program]).returncode


def build_and_run(target: str, out: str) -> int:
    manifests = [
        make_bundle(target, os.path.join(out, name), model, threads, name)
        for name, (model, threads) in MODELS.items()
    ]
    inputs = examples()
    write_examples(out, inputs, reference(inputs))
    status = compile_and_run(manifests[0], out)
    verdict = {0: "MATCH (both)", 1: "cnn MISMATCH", 2: "spk MISMATCH", 3: "init failed"}
    print(f"two models on {target}: {verdict.get(status, f'exit {status}')}")
    return status


if __name__ == "__main__":
    sys.exit(main(__doc__, build_and_run, "two_models"))
