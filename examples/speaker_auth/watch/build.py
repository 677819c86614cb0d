"""Build the speaker-authentication watch app: audio to accept/reject in C on the device.

    python examples/speaker_auth/watch/build.py [--target snapdragon-400|host] [--model M]
                                                [-o out/watch]

1. `deepxc build` the embedding model with --embed-weights and one thread (as
   examples/firmware does);
2. compile auth.c, wav.c and the MFCC front end (examples/audio/mfcc.c) with the
   bundle's toolchain and link libmodel.a statically into one program, `auth`;
3. print how to enroll and verify with it (under qemu-user for ARM).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
AUDIO = os.path.join(ROOT, "examples", "audio")
MODEL = os.path.join(ROOT, "examples", "speaker_auth", "model.onnx")


def _firmware_build():
    """examples/firmware/build.py (its make_bundle), loaded under a name of its own."""
    path = os.path.join(ROOT, "examples", "firmware", "build.py")
    spec = importlib.util.spec_from_file_location("firmware_build", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(target: str, model: str, out: str, cflags: tuple[str, ...] = ()) -> list[str]:
    """Bundle and program in `out`; the command that runs the program (runner first)."""
    manifest = _firmware_build().make_bundle(target, os.path.join(out, "bundle"), model)
    bundle = os.path.join(out, "bundle")
    program = os.path.join(out, "auth")
    sources = [os.path.join(HERE, "auth.c"), os.path.join(HERE, "wav.c")]
    sources.append(os.path.join(AUDIO, "mfcc.c"))
    toolchain = manifest["toolchain"]
    command = [toolchain["cc"], *toolchain["cflags"], "-Wall", "-Wextra", *cflags, "-static"]
    command += ["-I", bundle, "-I", AUDIO, *sources, os.path.join(bundle, "libmodel.a")]
    subprocess.run([*command, "-lm", "-o", program], check=True)
    return [*manifest["runner"], program]


def threshold_of(model: str) -> str:
    """The threshold of the model's task.json beside it, else a placeholder."""
    task = os.path.join(os.path.dirname(model), "task.json")
    if os.path.exists(task):
        with open(task) as file:
            return str(json.load(file).get("threshold", "THRESHOLD"))
    return "THRESHOLD"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="snapdragon-400")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("-o", "--output", default=os.path.join(ROOT, "out", "watch"))
    args = parser.parse_args()
    if not os.path.exists(args.model):
        print(f"build.py: {args.model}: no such model (pass --model)", file=sys.stderr)
        return 1
    os.makedirs(args.output, exist_ok=True)
    run = " ".join(build(args.target, args.model, args.output))
    template = os.path.join(args.output, "template.bin")
    print(f"watch app for {args.target}: {run.split()[-1]}")
    print(f"  enroll: {run} enroll {template} A.wav B.wav C.wav")
    print(f"  verify: {run} verify {template} {threshold_of(args.model)} X.wav")
    return 0


if __name__ == "__main__":
    sys.exit(main())
