"""The partitions behind Triton Inference Server (through PyTriton): each under its model
name and version, plus `deepxc_echo` (input0 FP32 [-1] back as output0) to measure the
network. HTTP on PORT (KServe v2, binary tensor extension), gRPC on PORT+1, metrics on
PORT+2, all bound to `host`. Stops cleanly on SIGTERM and SIGINT; Triton's workspace is a
temporary directory removed at exit."""

from __future__ import annotations

import http.client
import os
import signal
import tempfile
import time
from collections.abc import Callable

import numpy as np

from deepxc.serve.partitions import Partition
from deepxc.serve.preflight import ServeError

ECHO_MODEL = "deepxc_echo"
READY_TIMEOUT_S = 120.0
Log = Callable[[str], None]


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


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


def serve(
    partitions: list[Partition],
    engines: dict[str, object],
    host: str,
    port: int,
    instances: int,
    announce: Log,
) -> None:
    """Serve until SIGTERM or SIGINT. `engines` maps a model name to its engine (`run`:
    input name -> array, returns output name -> array); each model gets `instances`
    Triton instances (requests served at once)."""
    from pytriton.model_config import ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    with tempfile.TemporaryDirectory(prefix="deepxc-serve-") as temp:
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
        with Triton(config=config, workspace=os.path.join(temp, "workspace")) as triton:
            for partition in partitions:
                triton.bind(
                    model_name=partition.model,
                    model_version=int(partition.version),
                    infer_func=[
                        _infer_function(engines[partition.model], partition)
                        for _ in range(instances)
                    ],
                    inputs=[_tensor(t, Tensor) for t in partition.inputs],
                    outputs=[_tensor(t, Tensor) for t in partition.outputs],
                    config=ModelConfig(batching=False),
                    strict=True,
                )
            triton.bind(
                model_name=ECHO_MODEL,
                infer_func=_echo,
                inputs=[Tensor(name="input0", dtype=np.float32, shape=(-1,))],
                outputs=[Tensor(name="output0", dtype=np.float32, shape=(-1,))],
                config=ModelConfig(batching=False),
            )
            models = [p.model for p in partitions]
            _wait_ready(host, port, [*models, ECHO_MODEL])
            count = f"{len(models)} partition" + ("s" if len(models) > 1 else "")
            announce(f"serving {', '.join(models)} ({count}) on http://{_url_host(host)}:{port}")
            triton.serve()


def _tensor(spec, tensor_type):
    return tensor_type(name=spec.name, dtype=np.dtype(spec.dtype), shape=spec.shape)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
