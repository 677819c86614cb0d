"""A remote partition's ONNX file compiled into a deepxc host bundle (for the server's CPU,
or all on its NVIDIA GPU with host-cuda), cached by content: $XDG_CACHE_HOME/deepxc/serve/
<sha256 of the ONNX bytes, deepxc's version, the target and the thread count>/ (the served
bundle's own directory may be read-only)."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable

from deepxc import __version__

Log = Callable[[str], None]


def cache_root() -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "deepxc", "serve")


def cache_key(onnx_bytes: bytes, threads: int | None, target: str = "host") -> str:
    digest = hashlib.sha256(onnx_bytes)
    digest.update(f"\0deepxc {__version__}\0threads {threads or 'default'}".encode())
    if target != "host":  # the host's keys as they were
        digest.update(f"\0target {target}".encode())
    return digest.hexdigest()


def host_bundle(onnx_path: str, threads: int | None, log: Log, target: str = "host") -> str:
    """The bundle of `onnx_path` for the server (built now unless the cache holds it):
    for its CPU (`host`), or with every layer it can take on its GPU (`host-cuda`)."""
    with open(onnx_path, "rb") as file:
        data = file.read()
    directory = os.path.join(cache_root(), cache_key(data, threads, target))
    manifest = os.path.join(directory, "manifest.json")
    if os.path.isfile(manifest):
        return directory
    os.makedirs(os.path.dirname(directory), exist_ok=True)
    with open(directory + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two servers starting at once build it once
        if not os.path.isfile(manifest):
            import onnx

            from deepxc.pipeline import build_model  # TVM: only when there is a build

            name = os.path.splitext(os.path.basename(onnx_path))[0]
            model = onnx.load_from_string(data)
            place = "gpu" if target == "host-cuda" else None
            build_model(model, target, directory, log=log, name=name, threads=threads, place=place)
    return directory
