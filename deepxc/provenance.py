"""Where a bundle came from, as plain data for manifest.json: the ONNX model's SHA-256, the
command line (or the Python call), every build option, the calibration file and its
SHA-256, the versions of deepxc, TVM and Python, the build machine and the time.

The build machine's CPU model is recorded for builds whose kernels were compiled for the
build machine's own CPU (a target with mcpu "native"): only there does it decide the code."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
from dataclasses import dataclass
from datetime import datetime, timezone

from deepxc import __version__
from deepxc.emit.toolchain import EXTRA_CFLAGS_ENV

CPUINFO = "/proc/cpuinfo"
ENVIRONMENT = [EXTRA_CFLAGS_ENV]  # the variables that change what a build makes
_CHUNK = 1 << 20


@dataclass
class ModelOrigin:
    """What the caller of the pipeline knows of the model: its file (None for a model built
    in memory), the SHA-256 of its bytes, and how the build was asked for."""

    path: str | None
    sha256: str
    command_line: list[str] | None  # sys.argv when run from the command line
    call: str  # the Python function the build went through

    @staticmethod
    def in_memory(serialized: bytes, call: str) -> ModelOrigin:
        """A model handed over in memory: the SHA-256 of its serialized bytes."""
        return ModelOrigin(None, hashlib.sha256(serialized).hexdigest(), None, call)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cpu_model(cpuinfo: str = CPUINFO) -> str | None:
    """The CPU's name from /proc/cpuinfo (x86 "model name"; ARM "Hardware" or "Processor"),
    or None where there is no such file or line."""
    try:
        with open(cpuinfo) as file:
            lines = file.read().splitlines()
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in lines:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    for key in ("model name", "Hardware", "Processor", "cpu model"):
        if fields.get(key):
            return fields[key]
    return None


def build_provenance(
    origin: ModelOrigin,
    options: dict,
    calibration: str | None,
    tvm_version: str,
    native_code: bool,
) -> dict:
    """The manifest's "provenance" record. `options` are the build's options as given
    (None: the default); `native_code` says the kernels were compiled for this machine's
    CPU. The environment variables that change a build are recorded where set."""
    machine = {"platform": platform.platform(), "machine": platform.machine()}
    if native_code:
        machine["cpu"] = cpu_model()
    return {
        "onnx": {"path": origin.path, "sha256": origin.sha256},
        "command_line": origin.command_line,
        "call": origin.call,
        "options": {
            **{key: _plain(value) for key, value in options.items()},
            "calibration": (
                {"path": calibration, "sha256": file_sha256(calibration)} if calibration else None
            ),
        },
        "environment": {name: os.environ[name] for name in ENVIRONMENT if name in os.environ},
        "versions": {
            "deepxc": __version__,
            "tvm": tvm_version,
            "python": platform.python_version(),
        },
        "build_machine": machine,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _plain(value):
    """JSON's types: dataclasses (RLC budgets) as dicts, tuples (shapes) as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
