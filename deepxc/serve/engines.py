"""Each remote partition compiled into a host bundle (cached) and loaded: in process, or
in driver processes where its kernels cannot be linked into a shared library. An engine's
`run` takes the input arrays by name and gives the output arrays by name."""

from __future__ import annotations

from collections.abc import Callable

from deepxc.errors import BundleError
from deepxc.serve.host_bundle import host_bundle
from deepxc.serve.native import NativePartition
from deepxc.serve.partitions import Partition
from deepxc.serve.pipe_driver import PipePartition
from deepxc.serve.shared_library import NotPositionIndependent

Log = Callable[[str], None]
Engine = NativePartition | PipePartition


def start_engines(
    partitions: list[Partition], threads: int | None, log: Log, target: str = "host"
) -> dict[str, Engine]:
    """Model name -> its engine, each partition built for `target` (host, host-cuda)."""
    engines: dict[str, Engine] = {}
    try:
        for partition in partitions:
            for spec in (*partition.inputs, *partition.outputs):
                if spec.datatype != "FP32":
                    raise BundleError(
                        f"{partition.onnx_path}: tensor {spec.name} is {spec.datatype}; "
                        "a served partition takes and gives FP32 tensors only"
                    )
            bundle = host_bundle(partition.onnx_path, threads, log, target)
            engine = load_partition(bundle, log)
            _check_boundary(partition, engine)
            engines[partition.model] = engine
    except BaseException:
        close_engines(engines)
        raise
    return engines


def load_partition(bundle: str, log: Log) -> Engine:
    """The host bundle's model in process; where its kernel objects are not position
    independent (said on `log`), in driver processes that stay up."""
    try:
        return NativePartition(bundle)
    except NotPositionIndependent as reason:
        log(
            f"{bundle}: the kernel objects are not position independent ({reason}): "
            "running the model in driver processes instead"
        )
        return PipePartition(bundle)


def close_engines(engines: dict[str, Engine]) -> None:
    for engine in engines.values():
        engine.close()


def _check_boundary(partition: Partition, engine: Engine) -> None:
    """The compiled model takes and gives the tensors the manifest lists."""
    for kind, specs, compiled in (
        ("inputs", partition.inputs, engine.inputs),
        ("outputs", partition.outputs, engine.outputs),
    ):
        listed = [(spec.name, spec.shape) for spec in specs]
        if sorted(listed) != sorted(compiled):
            raise BundleError(
                f"{partition.onnx_path}: its {kind} {compiled} differ from the manifest's "
                f"{listed} (remote partition {partition.model})"
            )
