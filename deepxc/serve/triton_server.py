"""The partitions behind Triton Inference Server (through PyTriton): each under its model
name and version, plus `deepxc_echo` (input0 FP32 [-1] back as output0) to measure the
network. HTTP on PORT (KServe v2, binary tensor extension), gRPC on PORT+1, metrics on
PORT+2, all bound to `host`. Stops cleanly on KeyboardInterrupt; Triton's workspace is a
temporary directory removed at exit, and what Triton may leave behind is removed too
(`leftovers`)."""

from __future__ import annotations

import http.client
import os
import tempfile
import time
from collections.abc import Callable

import numpy as np

from deepxc.errors import first_line
from deepxc.serve import leftovers
from deepxc.serve.leftovers import Stub
from deepxc.serve.partitions import Partition
from deepxc.serve.preflight import ServeError

ECHO_MODEL = "deepxc_echo"
ECHO_TENSORS = ("input0", "output0")
READY_TIMEOUT_S = 120.0
Log = Callable[[str], None]


def _infer_function(engine, partition: Partition):
    """Triton's callable for one model instance: requests -> the engine's outputs."""
    names = [spec.name for spec in partition.inputs]

    def infer(requests):
        return [engine.run({name: request[name] for name in names}) for request in requests]

    return infer


def _echo(requests):
    return [{"output0": np.asarray(r["input0"])} for r in requests]


def _wait_ready(host: str, port: int, models: list[str]) -> None:
    """Until every model answers /v2/models/<m>/ready (Triton's own health turns ready
    before the models are bound)."""
    address = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    deadline = time.monotonic() + READY_TIMEOUT_S
    waiting = list(models)
    while waiting:
        connection = http.client.HTTPConnection(address, port, timeout=5)
        try:
            connection.request("GET", f"/v2/models/{waiting[0]}/ready")
            if connection.getresponse().status == 200:
                waiting.pop(0)
                continue
        except OSError:
            pass
        finally:
            connection.close()
        if time.monotonic() > deadline:
            raise ServeError(f"model {waiting[0]} not ready after {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.1)


SOCKET_PATH_MAX = 107  # bytes of a Unix socket's path (sizeof sun_path, less its NUL)


def _short_parent(models: list[str], instances: int) -> str:
    """Where the server's temporary directory goes: PyTriton binds a Unix socket per model
    instance in its workspace (`WORKSPACE/MODEL_I_J-server.sock`), whose path must fit in
    107 bytes; the default temporary directory unless that is too deep (a test's), then
    /tmp."""
    socket = max(len(m) for m in models) + len(f"_{instances}_{instances}-server.sock")
    inside = len("/deepxc-serve-12345678/workspace/") + socket
    for parent in (tempfile.gettempdir(), "/tmp"):
        if len(parent) + inside <= SOCKET_PATH_MAX:
            return parent
    raise ServeError(
        f"model {max(models, key=len)}: the name is too long for PyTriton's sockets (a Unix "
        f"socket's path holds {SOCKET_PATH_MAX} bytes): build the bundle with a shorter --name"
    )


def serve(
    partitions: list[Partition],
    engines: dict[str, object],
    host: str,
    port: int,
    instances: int,
    announce: Log,
) -> None:
    """Serve until KeyboardInterrupt (the CLI turns SIGTERM into one). `engines` maps a
    model name to its engine (`run`: input name -> array, returns output name -> array);
    each partition gets `instances` Triton model instances (its requests served at once,
    each with a context of its own)."""
    from pytriton.model_config import Tensor
    from pytriton.triton import Triton, TritonConfig

    parent = _short_parent([p.model for p in partitions] + [ECHO_MODEL], instances)
    with tempfile.TemporaryDirectory(prefix="deepxc-serve-", dir=parent) as temp:
        config = TritonConfig(
            http_address=host,
            http_port=port,
            grpc_address=host,
            grpc_port=port + 1,
            metrics_address=host,
            metrics_port=port + 2,
            allow_gpu_metrics=False,
            exit_timeout_secs=5,
            log_file=os.path.join(temp, "triton.log"),
        )
        stubs: list[Stub] = []
        try:
            with Triton(config=config, workspace=os.path.join(temp, "workspace")) as triton:
                try:
                    for partition in partitions:
                        _bind(
                            triton,
                            partition.model,
                            int(partition.version),
                            [_infer_function(engines[partition.model], partition)] * instances,
                            [_tensor(t, Tensor) for t in partition.inputs],
                            [_tensor(t, Tensor) for t in partition.outputs],
                        )
                    echo = [Tensor(name=n, dtype=np.float32, shape=(-1,)) for n in ECHO_TENSORS]
                    _bind(triton, ECHO_MODEL, 1, _echo, echo[:1], echo[1:])
                    models = [p.model for p in partitions]
                    _wait_ready(host, port, [*models, ECHO_MODEL])
                finally:
                    stubs = leftovers.python_stubs()  # while Triton is still their parent
                count = f"{len(models)} partition" + ("s" if len(models) > 1 else "")
                url = f"http://{_url_host(host)}:{port}"
                announce(f"serving {', '.join(models)} ({count}) on {url}")
                triton.serve()
        finally:
            leftovers.remove(stubs)


def _bind(triton, model: str, version: int, infer, inputs: list, outputs: list) -> None:
    from pytriton.model_config import ModelConfig

    try:
        triton.bind(
            model_name=model,
            model_version=version,
            infer_func=infer,
            inputs=inputs,
            outputs=outputs,
            config=ModelConfig(batching=False),
            strict=True,
        )
    except Exception as exc:  # PyTriton's and Triton's own errors, pages long
        raise ServeError(f"model {model}: Triton could not load it: {first_line(exc)}") from None


def _tensor(spec, tensor_type):
    return tensor_type(name=spec.name, dtype=np.dtype(spec.dtype), shape=spec.shape)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
