"""Compile a rendered bundle with the target's C toolchain."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from deepxc.errors import ToolchainError
from deepxc.targets import Target

WARNINGS = ["-Wall", "-Wextra", "-Werror"]


@dataclass
class BuildSpec:
    cc: str
    ar: str
    cflags: list[str]
    ldflags: list[str]
    libs: list[str]
    kernel_objects: list[str]
    runtime_sources: list[str]  # compiled into libmodel.a with the kernels


def build_spec(target: Target, kernel_objects: list[str], multithreaded: bool) -> BuildSpec:
    cc = target.cc
    ar = cc[: -len("gcc")] + "ar" if cc.endswith("gcc") else "ar"
    sources = ["model.c"] + (["parallel.c"] if multithreaded else [])
    threads = ["-pthread"] if multithreaded else []
    return BuildSpec(
        cc,
        ar,
        target.cflags + WARNINGS + threads,
        target.ldflags + threads,
        target.libs,
        kernel_objects,
        sources,
    )


def compile_bundle(directory: str, spec: BuildSpec) -> str:
    """Build `model` and `libmodel.a` in `directory`; return the executable's path."""
    for tool in (spec.cc, spec.ar):
        if shutil.which(tool) is None:
            raise ToolchainError(f"C toolchain not found: '{tool}' is not on PATH")
    objects = [source[:-2] + ".o" for source in spec.runtime_sources]
    steps = [
        [spec.cc, *spec.cflags, "-c", s, "-o", o] for s, o in zip(spec.runtime_sources, objects)
    ]
    steps += [
        [spec.cc, *spec.cflags, "-c", "main.c", "-o", "main.o"],
        [spec.ar, "rcs", "libmodel.a", *objects, *spec.kernel_objects],
        [spec.cc, *spec.ldflags, "main.o", "libmodel.a", *spec.libs, "-o", "model"],
    ]
    if os.path.exists(os.path.join(directory, "libmodel.a")):
        os.remove(os.path.join(directory, "libmodel.a"))
    for command in steps:
        result = subprocess.run(command, cwd=directory, capture_output=True, text=True)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            errors = [line for line in detail if "error" in line] or detail
            first = errors[0] if errors else f"exit code {result.returncode}"
            raise ToolchainError(f"{' '.join(command)} failed in {directory}: {first}")
    return os.path.join(directory, "model")
