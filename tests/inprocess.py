"""Run a model through ingest, the passes and Relax, compiled and run in process by TVM.

This checks importers, passes and Relax emitters without the C backend: the Relax module
is compiled for the host with `tvm.compile` and run on TVM's virtual machine.
"""

from __future__ import annotations

import numpy as np
import onnx
import tvm
from support import assert_close, random_inputs, reference_outputs
from tvm import relax

from deepxc.ingest.passes import PASSES
from deepxc.ingest.reader import import_model
from deepxc.ir import Graph, verify
from deepxc.lower.relax_builder import build_relax
from deepxc.targets import load_target

_TARGET = {"kind": "llvm"}


def frontend(model: onnx.ModelProto) -> Graph:
    """Import, then every pass, verifying the IR after each."""
    graph = import_model(model)
    verify(graph, after="ingest")
    for name, run in PASSES:
        graph = run(graph)
        verify(graph, after=name)
    return graph


def run_graph(graph: Graph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Build the graph's Relax module, compile it for the host and run it."""
    program = build_relax(graph, load_target("host").core)
    module = relax.transform.DecomposeOpsForInference()(program.module)
    executable = tvm.compile(module, target=tvm.target.Target(_TARGET))
    machine = relax.VirtualMachine(executable, tvm.cpu())
    arguments = [inputs[name] for name in program.inputs]
    arguments += [graph.constants[name] for name in program.weights]
    result = machine["main"](*[tvm.runtime.tensor(np.asarray(a)) for a in arguments])
    results = list(result) if len(program.outputs) > 1 else [result]
    return {name: value.numpy() for name, value in zip(program.outputs, results)}


def run_model(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return run_graph(frontend(model), inputs)


def check_graph(graph: Graph, model: onnx.ModelProto, tolerance: float = 1e-5) -> None:
    """`graph` (say, after a pass) computes what onnxruntime computes for `model`."""
    inputs = random_inputs(model)
    assert_close(run_graph(graph, inputs), reference_outputs(model, inputs), tolerance)
