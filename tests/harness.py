"""C test programs (tests/c/*.c) compiled against a bundle's model.h and libmodel.a, and
run the way the bundle runs (natively, or under qemu-user for ARM)."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np

C_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "c")


def manifest(bundle) -> dict:
    with open(os.path.join(bundle, "manifest.json")) as file:
        return json.load(file)


def compile_program(
    bundle, source: str, output, cflags: tuple[str, ...] = (), library: str | None = "libmodel.a"
) -> str:
    """Compile tests/c/`source` with the bundle's toolchain and link its `library`, or
    (None) compile its model.c along with `cflags` (a sanitizer's) and link its kernels.
    Warnings are errors here, as in deepxc's own compile under the tests."""
    toolchain = manifest(bundle)["toolchain"]
    if library is not None:
        linked = [os.path.join(str(bundle), library)]
    else:
        linked = [os.path.join(str(bundle), "model.c")] + [
            os.path.join(str(bundle), name) for name in _kernel_objects(bundle)
        ]
    command = [
        toolchain["cc"],
        *toolchain["cflags"],
        "-Werror",
        *cflags,
        "-pthread",
        "-I",
        str(bundle),
        os.path.join(C_DIR, source),
        *linked,
        *toolchain["ldflags"],
        *cflags,
        "-pthread",
        "-lm",
        "-o",
        str(output),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stderr}"
    return str(output)


def run_program(bundle, program, *args, timeout: float = 120, env: dict | None = None):
    command = [*manifest(bundle)["runner"], str(program), *map(str, args)]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def write_raw(path, array: np.ndarray) -> str:
    np.ascontiguousarray(array, dtype="<f4").tofile(path)
    return str(path)


def read_raw(path, shape) -> np.ndarray:
    return np.fromfile(path, dtype="<f4").reshape(shape)


def build_sanitized(bundle, sanitizers: str, output) -> tuple[list[str], dict[str, str]]:
    """Compile the bundle's test driver and runtime (main.c, model.c) with
    -fsanitize=`sanitizers` and link its kernel objects; return the command that runs it
    and the sanitizers' environment. ARM drivers link dynamically (the sanitizer runtimes
    are shared libraries) and run under qemu-user with the cross sysroot, without leak
    detection (LeakSanitizer cannot work under qemu-user)."""
    info = manifest(bundle)
    toolchain = info["toolchain"]
    sources = ["main.c", "model.c"] + (["weights.S"] if info.get("weights_embedded") else [])
    kernels = _kernel_objects(bundle)
    flags = [f"-fsanitize={sanitizers}", "-fno-omit-frame-pointer", "-g"]
    if "thread" not in sanitizers:
        flags.append("-fno-sanitize-recover=all")
    cflags = [f for f in toolchain["cflags"] if f != "-Werror"]
    ldflags = [f for f in toolchain["ldflags"] if f != "-static"]
    command = [toolchain["cc"], *cflags, *flags, *sources, *kernels, *ldflags, *flags]
    command += ["-pthread", "-lm", "-o", os.path.abspath(output)]
    result = subprocess.run(command, cwd=bundle, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stderr}"
    runner = list(info["runner"])
    env = {
        "ASAN_OPTIONS": f"detect_leaks={0 if runner else 1}:exitcode={SANITIZER_EXIT}",
        "UBSAN_OPTIONS": f"halt_on_error=1:print_stacktrace=1:exitcode={SANITIZER_EXIT}",
        "TSAN_OPTIONS": f"halt_on_error=1:exitcode={SANITIZER_EXIT}",
    }
    if runner:
        sysroot = "/usr/" + toolchain["cc"].rsplit("-gcc", 1)[0]
        runner += ["-L", sysroot]
    return [*runner, os.path.abspath(output)], env


SANITIZER_EXIT = 99  # what a sanitized program exits with when a sanitizer reports


def _kernel_objects(bundle) -> list[str]:
    names = os.listdir(bundle)
    return sorted(n for n in names if n.startswith("kernels_") and n.endswith(".o"))
