"""Compile a rendered bundle with the target's C toolchain."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

from deepxc.errors import ToolchainError
from deepxc.targets import Target

# Warnings on, but not -Werror: a newer compiler's new warning must not break a user's
# build. Extra flags for deepxc's own compile of the runtime come from the environment
# (deepxc's tests set DEEPXC_EXTRA_CFLAGS=-Werror); the Makefile takes CFLAGS_EXTRA.
WARNINGS = ["-Wall", "-Wextra"]
EXTRA_CFLAGS_ENV = "DEEPXC_EXTRA_CFLAGS"


@dataclass
class BuildSpec:
    cc: str
    ar: str
    objcopy: str
    size: str
    cflags: list[str]  # the Makefile's
    ldflags: list[str]
    libs: list[str]
    kernel_objects: list[str]
    runtime_sources: list[str]  # compiled into libmodel.a with the kernels
    # CMakeLists.txt: the target's CPU and float-ABI flags (-m...), which the kernels were
    # compiled for and every file linked with them must share (PUBLIC), and the rest of
    # its flags and the warnings (-O2 -Wall -Wextra; the C standard is a target property
    # there) for the bundle's own files.
    abi_cflags: list[str]
    private_cflags: list[str]
    extra_cflags: list[str]  # DEEPXC_EXTRA_CFLAGS: deepxc's own compile only
    debian_package: str = ""  # where the tools come from, for the error naming a missing one
    # objcopy options the build files apply to the kernel objects before archiving them:
    # empty when deepxc renamed the symbols itself (it runs objcopy unless --emit-only)
    symbol_renames: list[str] = field(default_factory=list)


def build_spec(
    target: Target, kernel_objects: list[str], multithreaded: bool, embed_weights: bool
) -> BuildSpec:
    cc = target.cc
    binutils = cc[: -len("gcc")] if cc.endswith("gcc") else ""
    sources = ["model.c"] + (["weights.S"] if embed_weights else [])
    threads = ["-pthread"] if multithreaded else []
    return BuildSpec(
        cc,
        binutils + "ar",
        binutils + "objcopy",
        binutils + "size",
        target.cflags + WARNINGS + threads,
        target.ldflags + threads,
        target.libs,
        kernel_objects,
        sources,
        abi_cflags=[f for f in target.cflags if f.startswith("-m")],
        private_cflags=[f for f in target.cflags if not f.startswith(("-m", "-std="))] + WARNINGS,
        extra_cflags=os.environ.get(EXTRA_CFLAGS_ENV, "").split(),
        debian_package=target.debian_package,
    )


def check_tools(spec: BuildSpec) -> None:
    """Every tool of the build is on PATH: checked once, before any of them runs."""
    for tool in (spec.cc, spec.ar, spec.objcopy, spec.size):
        if shutil.which(tool) is None:
            where = (
                f"install Debian's {spec.debian_package}"
                if spec.debian_package
                else "put the target's C toolchain on PATH"
            )
            raise ToolchainError(f"{tool} not found: {where} (or pass --emit-only)")


def redefine_options(renames: dict[str, str]) -> list[str]:
    """objcopy's options renaming each symbol `old` to `new`."""
    return [f"--redefine-sym={old}={new}" for old, new in renames.items()]


def rename_symbols(directory: str, spec: BuildSpec, renames: dict[str, str]) -> None:
    """Rename symbols in the kernel objects, in place (TVM's fixed backend names become
    the bundle's own, so two bundles link into one program)."""
    options = redefine_options(renames)
    for obj in spec.kernel_objects:
        _run([spec.objcopy, *options, obj], directory)


def runtime_objects(spec: BuildSpec) -> list[str]:
    """The object file of each runtime source."""
    return [os.path.splitext(source)[0] + ".o" for source in spec.runtime_sources]


def compile_runtime(directory: str, spec: BuildSpec) -> list[str]:
    """Compile the runtime sources; return their object files."""
    objects = runtime_objects(spec)
    for source, obj in zip(spec.runtime_sources, objects):
        _run([spec.cc, *spec.cflags, *spec.extra_cflags, "-c", source, "-o", obj], directory)
    return objects


def code_bytes(directory: str, spec: BuildSpec, objects: list[str]) -> int:
    """Machine code (text) of the kernels and the runtime, from the toolchain's `size`."""
    code = [o for o in objects + spec.kernel_objects if not o.startswith("weights")]
    output = _run([spec.size, "-t", *code], directory)
    return int(output.strip().splitlines()[-1].split()[0])


def link_bundle(directory: str, spec: BuildSpec, objects: list[str]) -> str:
    """Archive `libmodel.a` and link the test driver `model`; return its path."""
    if os.path.exists(os.path.join(directory, "libmodel.a")):
        os.remove(os.path.join(directory, "libmodel.a"))
    _run([spec.cc, *spec.cflags, *spec.extra_cflags, "-c", "main.c", "-o", "main.o"], directory)
    _run([spec.ar, "rcs", "libmodel.a", *objects, *spec.kernel_objects], directory)
    _run([spec.cc, *spec.ldflags, "main.o", "libmodel.a", *spec.libs, "-o", "model"], directory)
    return os.path.join(directory, "model")


def _run(command: list[str], directory: str) -> str:
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        errors = [line for line in detail if "error" in line] or detail
        first = errors[0] if errors else f"exit code {result.returncode}"
        raise ToolchainError(f"{' '.join(command)} failed in {directory}: {first}")
    return result.stdout
