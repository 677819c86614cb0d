"""What the server reads from a host bundle it built: the toolchain and files its build
used, and its inputs and outputs."""

from __future__ import annotations

import json
import os
import subprocess

from deepxc.emit.toolchain import EXTRA_CFLAGS_ENV
from deepxc.errors import ToolchainError

Tensors = list[tuple[str, tuple[int, ...]]]  # (name, shape), in the C API's order


def manifest(bundle: str) -> dict:
    with open(os.path.join(bundle, "manifest.json")) as file:
        return json.load(file)


def boundary(bundle: str) -> tuple[Tensors, Tensors]:
    """The model's inputs and outputs."""
    data = manifest(bundle)
    return tuple(
        [(t["name"], tuple(t["shape"])) for t in data[kind]] for kind in ("inputs", "outputs")
    )


def makefile_list(bundle: str, variable: str) -> list[str]:
    """The words of `variable = ...` in the bundle's Makefile (KERNELS, RUNTIME, LIBS)."""
    with open(os.path.join(bundle, "Makefile")) as file:
        for line in file:
            name, equals, value = line.partition("=")
            if equals and name.strip() == variable and not line[:1].isspace():
                return value.split()
    return []


def compile_with_bundle(bundle: str, arguments: list[str], what: str) -> None:
    """Run the bundle's C compiler with its flags (and DEEPXC_EXTRA_CFLAGS, as deepxc's
    own compile of a bundle), `-I bundle` and `arguments`."""
    toolchain = manifest(bundle)["toolchain"]
    extra = os.environ.get(EXTRA_CFLAGS_ENV, "").split()
    command = [toolchain["cc"], *toolchain["cflags"], *extra, f"-I{bundle}", *arguments]
    command += [*toolchain.get("ldflags", []), *makefile_list(bundle, "LIBS")]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolchainError(f"{bundle}: compiling {what} failed: {result.stderr.strip()}")
