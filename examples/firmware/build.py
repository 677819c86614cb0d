"""Build and run the firmware example: examples/tiny_cnn for the watch-class target.

    python examples/firmware/build.py [--target snapdragon-400] [-o out/firmware]

1. `deepxc build` the model with --embed-weights and one thread (no pthreads);
2. write input.h (a seeded input) and expected.h (onnxruntime's output on this machine);
3. compile firmware.c against model.h and link libmodel.a statically;
4. run it (under qemu-user for ARM) and report its verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL = os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx")


def c_array(name: str, values: np.ndarray) -> str:
    body = ",\n".join(
        "    " + ", ".join(f"{v:.9g}f" for v in values.ravel()[i : i + 8])
        for i in range(0, values.size, 8)
    )
    return f"static const float {name}[{values.size}] = {{\n{body}\n}};\n"


def make_bundle(
    target: str, bundle: str, model: str = MODEL, threads: int = 1, name: str | None = None
) -> dict:
    """`deepxc build` with the weights linked in (and the C names under `name`)."""
    deepxc = os.path.join(os.path.dirname(sys.executable), "deepxc")
    command = [deepxc, "build", model, "--target", target, "--embed-weights"]
    command += ["--threads", str(threads), "-o", bundle] + (["--name", name] if name else [])
    subprocess.run(command, check=True)
    with open(os.path.join(bundle, "manifest.json")) as file:
        return json.load(file)


def write_headers(out: str, image: np.ndarray, expected: np.ndarray) -> None:
    with open(os.path.join(out, "input.h"), "w") as file:
        file.write(c_array("example_input", image))
    with open(os.path.join(out, "expected.h"), "w") as file:
        file.write(c_array("example_expected", expected))


def compile_and_run(manifest: dict, bundle: str, out: str) -> int:
    """Link firmware.c with libmodel.a statically and run it; return its exit status."""
    toolchain = manifest["toolchain"]
    program = os.path.join(out, "firmware")
    subprocess.run(
        [
            toolchain["cc"],
            *toolchain["cflags"],
            "-static",
            "-I",
            bundle,
            "-I",
            out,
            os.path.join(HERE, "firmware.c"),
            os.path.join(bundle, "libmodel.a"),
            "-lm",
            "-o",
            program,
        ],
        check=True,
    )
    return subprocess.run([*manifest["runner"], program]).returncode


def reference(manifest: dict) -> tuple[np.ndarray, np.ndarray]:
    """A seeded input and onnxruntime's output for it."""
    spec = manifest["inputs"][0]
    image = np.random.default_rng(7).standard_normal(spec["shape"]).astype(np.float32)
    session = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    return image, session.run(None, {spec["name"]: image})[0]


def build_and_run(target: str, out: str) -> int:
    bundle = os.path.join(out, "bundle")
    manifest = make_bundle(target, bundle)
    write_headers(out, *reference(manifest))
    status = compile_and_run(manifest, bundle, out)
    verdict = {0: "MATCH", 1: "MISMATCH", 2: "init failed", 3: "run failed"}
    print(f"firmware on {target}: {verdict.get(status, f'exit {status}')}")
    return status


def main(doc: str = __doc__, run=build_and_run, output: str = "firmware") -> int:
    """The command line of this example and of two_models.py: a target and an output."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--target", default="snapdragon-400")
    parser.add_argument("-o", "--output", default=os.path.join(ROOT, "out", output))
    args = parser.parse_args()
    os.makedirs(args.output, exist_ok=True)
    return run(args.target, args.output)


if __name__ == "__main__":
    sys.exit(main())
