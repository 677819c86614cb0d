"""A real Triton Inference Server (through nvidia-pytriton) serving one numpy function on
127.0.0.1: the reference KServe v2 server for the remote client's tests.

    process = start(compute, inputs, outputs, port)   # ready to infer when it returns
    ... POST /v2/models/numpy_model/versions/1/infer ...
    stop(process)                                     # or kill(process): SIGKILL, no goodbye

`compute(dict name -> array) -> dict name -> array` must be a module-level function (the
server process imports it by name); inputs and outputs are (name, numpy dtype, shape).
Run as a script, this file is that server process."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request

MODEL = "numpy_model"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(compute, inputs, outputs, port: int, model: str = MODEL, timeout: float = 90.0):
    """Start the server; return its process once /v2/models/<model>/ready answers 200."""
    workspace = tempfile.mkdtemp(prefix="triton_numpy_")
    spec = {
        "function": f"{compute.__module__}:{compute.__qualname__}",
        "model": model,
        "ports": [port, free_port(), free_port()],
        "inputs": [[name, str(dtype), list(shape)] for name, dtype, shape in inputs],
        "outputs": [[name, str(dtype), list(shape)] for name, dtype, shape in outputs],
        "workspace": workspace,
    }
    env = dict(os.environ)
    paths = [os.path.dirname(inspect.getfile(compute)), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    # Triton's python backend loads libpython by soname: make it this interpreter's, not
    # a system one of another patch version (its stub crashes at model load then).
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        libdir = sysconfig.get_config_var("LIBDIR")
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [libdir, env.get("LD_LIBRARY_PATH")]))
    log = open(os.path.join(workspace, "server.log"), "wb")
    process = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), json.dumps(spec)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its own process group: stop/kill reach Triton's children too
    )
    log.close()
    process.workspace = workspace
    ready = f"http://127.0.0.1:{port}/v2/models/{model}/ready"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(ready, timeout=1) as reply:
                if reply.status == 200:
                    return process
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    with open(os.path.join(workspace, "server.log"), "rb") as written:
        tail = written.read()[-3000:].decode(errors="replace")
    kill(process)
    raise RuntimeError(f"Triton did not get ready on port {port}:\n{tail}")


def stop(process, timeout: float = 30.0) -> None:
    """SIGTERM (a clean PyTriton shutdown), then SIGKILL for whatever of its group is left."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    kill(process)


def kill(process) -> None:
    """SIGKILL the server's whole process group at once: a crash, as the client sees it.
    The shared memory its processes held is removed after them (nobody else can)."""
    shared = _shared_memory(process.pid)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
    for path in shared:
        if os.path.exists(path):
            os.unlink(path)
    shutil.rmtree(process.workspace, ignore_errors=True)


def _shared_memory(group: int) -> set[str]:
    """The /dev/shm files the processes of a process group have mapped or open."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[2]) != group:
                    continue
            with open(f"/proc/{pid}/maps") as maps:
                found.update(line.split()[-1] for line in maps if "/dev/shm/" in line)
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("/dev/shm/"):
                    found.add(target)
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile
    return {path.removesuffix(" (deleted)") for path in found if path.startswith("/dev/shm/")}


def _serve(spec: dict) -> None:
    import numpy as np
    from pytriton.model_config import ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    module, name = spec["function"].split(":")
    compute = getattr(importlib.import_module(module), name)

    def infer(requests):
        return [compute({k: np.asarray(v) for k, v in r.items()}) for r in requests]

    def tensors(specs):
        return [Tensor(name=n, dtype=np.dtype(d).type, shape=tuple(s)) for n, d, s in specs]

    def interrupt(*_):
        raise KeyboardInterrupt  # PyTriton shuts Triton down cleanly only on this

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    http, grpc, metrics = spec["ports"]
    config = TritonConfig(
        http_address="127.0.0.1",
        http_port=http,
        grpc_address="127.0.0.1",
        grpc_port=grpc,
        metrics_address="127.0.0.1",
        metrics_port=metrics,
        allow_gpu_metrics=False,
    )
    with Triton(config=config, workspace=os.path.join(spec["workspace"], "pytriton")) as triton:
        triton.bind(
            model_name=spec["model"],
            infer_func=infer,
            inputs=tensors(spec["inputs"]),
            outputs=tensors(spec["outputs"]),
            config=ModelConfig(batching=False),
        )
        try:
            triton.serve()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]))
