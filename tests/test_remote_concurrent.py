"""A remote call runs on a thread of its own: the CPU's kernels that do not read the
partition's outputs run before its wait, one call at a time is in flight, and the
answers (from a fake KServe v2 server that takes its time) are onnxruntime's."""

from __future__ import annotations

import os
import subprocess
import time

import numpy as np
import onnx
import onnxruntime as ort
from kserve_fault_server import FaultServer
from onnx import TensorProto, helper, numpy_helper
from support import assert_close, quiet, random_inputs, reference_outputs

from deepxc.pipeline import build_model
from deepxc.runner import run_remote


def branches() -> onnx.ModelProto:
    """x -> a (conv) and x -> b (conv) -> c (conv); y = a + c."""
    rng = np.random.default_rng(7)

    def conv(name, source):
        w = numpy_helper.from_array(
            rng.standard_normal((8, 8, 3, 3)).astype(np.float32) * 0.2, f"{name}_w"
        )
        return helper.make_node("Conv", [source, w.name], [name], name=name, pads=[1] * 4), w

    nodes, weights = zip(conv("a", "x"), conv("b", "x"), conv("c", "b"))
    add = helper.make_node("Add", ["a", "c"], ["y"], name="add")
    value = [1, 8, 12, 12]
    graph = helper.make_graph(
        [*nodes, add],
        "branches",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, value)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, value)],
        list(weights),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def served_run(monkeypatch, bundle, manifest: dict, model, seed: int, delay: float = 0.0):
    """Run the bundle once against a fake server computing each of its partitions with
    onnxruntime on the bundle's ONNX (after `delay` s); check the outputs against
    onnxruntime on the whole model; return them, the remote stats and the request paths."""
    sessions = {
        part["model"]: ort.InferenceSession(os.path.join(bundle, part["onnx"]))
        for part in manifest["remote"]["partitions"]
    }

    def compute(inputs):
        time.sleep(delay)  # a server that takes its time: the CPU works on meanwhile
        session = sessions[server.paths[-1].split("/")[3]]
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, inputs)))

    inputs = random_inputs(model, seed=seed)
    with FaultServer(compute) as server:
        monkeypatch.setenv("DEEPX_REMOTE", server.url)
        outputs, stats, _ = run_remote(str(bundle), inputs)
    assert_close(outputs, reference_outputs(model, inputs))
    return outputs, stats, list(server.paths)


def test_cpu_work_runs_while_the_server_computes(tmp_path, monkeypatch):
    model = branches()
    bundle = tmp_path / "b"
    manifest = build_model(model, "host", str(bundle), log=quiet, place="a=remote,c=remote")
    steps = [(c["step"], c["kernel"], c["layers"]) for c in manifest["kernel_calls"]]
    kinds = [(step, layers[0]) for step, _, layers in steps if step != "kernel" or layers]
    # p0 (a) is sent, b runs meanwhile; p1 (c) must wait for p0's answer first (one call
    # in flight), then add waits for p1
    expected = [("remote", "a"), ("kernel", "b"), ("wait", "a"), ("kernel", "a")]
    expected += [("remote", "c"), ("wait", "c"), ("kernel", "c"), ("kernel", "add")]
    assert kinds == expected, steps
    outputs, stats, paths = served_run(monkeypatch, bundle, manifest, model, seed=8, delay=0.05)
    assert stats["remote_calls"] == 2 and stats["remote_ok"] == 2
    assert [p.split("/")[3] for p in paths] == ["branches_p0", "branches_p1"]


def test_without_threads_the_call_runs_where_it_starts(tmp_path, monkeypatch):
    """-DDEEPX_REMOTE_NO_THREAD: no thread is made (a one-thread bundle then needs no
    pthread_create at all), and the answers are the same."""
    monkeypatch.setenv("DEEPXC_EXTRA_CFLAGS", "-DDEEPX_REMOTE_NO_THREAD")
    model = branches()
    bundle = tmp_path / "b"
    manifest = build_model(
        model, "host", str(bundle), log=quiet, place="a=remote,c=remote", threads=1
    )
    undefined = subprocess.run(
        ["nm", "-u", str(bundle / "model.o")], capture_output=True, text=True, check=True
    ).stdout
    assert "pthread_create" not in undefined
    _, stats, _ = served_run(monkeypatch, bundle, manifest, model, seed=9)
    assert stats["remote_ok"] == 2
