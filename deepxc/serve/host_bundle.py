"""A remote partition's ONNX file compiled into a deepxc host bundle, cached by content:
$XDG_CACHE_HOME/deepxc/serve/<sha256 of the ONNX bytes, deepxc's version and the thread
count>/ (the served bundle's own directory may be read-only)."""

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


def cache_key(onnx_bytes: bytes, threads: int | None) -> str:
    digest = hashlib.sha256(onnx_bytes)
    digest.update(f"\0deepxc {__version__}\0threads {threads or 'default'}".encode())
    return digest.hexdigest()


def host_bundle(onnx_path: str, threads: int | None, log: Log) -> str:
    """The host bundle of `onnx_path` (built now unless the cache holds it)."""
    with open(onnx_path, "rb") as file:
        data = file.read()
    directory = os.path.join(cache_root(), cache_key(data, threads))
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
            build_model(model, "host", directory, log=log, name=name, threads=threads)
    return directory
