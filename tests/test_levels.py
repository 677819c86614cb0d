"""Bundles with several runtime compression levels: each level computes its own graph,
deepx_set_level switches between them in one process, and the levels share the weights
blob by name, each weight stored once."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import tempfile

import numpy as np
import onnx
import pytest
from inprocess import frontend
from models import make_model, tensor
from onnx import helper, numpy_helper
from support import assert_close, quiet, random_inputs, reference_outputs

from deepxc.cli.main import main
from deepxc.emit.bundle import prepare_output_dir, write_bundle
from deepxc.emit.memory_plan import align
from deepxc.emit.weights import HEADER_BYTES, merge_weights
from deepxc.errors import BundleError, RunError
from deepxc.ir.stats import model_summary
from deepxc.lower.partition import lower_partition
from deepxc.rlc import dense_svd
from deepxc.runner import profile_bundle, run_bundle, run_levels
from deepxc.targets import load_target

# The layers each level factors, and at which rank (level 0: none).
RANKS = [{}, {"fc1": 24}, {"fc1": 8, "fc2": 4}]


def conv_mlp() -> onnx.ModelProto:
    """A strided convolution (its kernel packs panels in scratch memory), then two dense
    layers worth factoring."""
    rng = np.random.default_rng(0)
    arrays = {
        "conv_w": 0.3 * rng.standard_normal((8, 3, 3, 3)),
        "fc1_w": 0.1 * rng.standard_normal((48, 288)),
        "fc1_b": rng.standard_normal(48),
        "fc2_w": 0.2 * rng.standard_normal((10, 48)),
        "fc2_b": rng.standard_normal(10),
    }
    nodes = [
        helper.make_node("Conv", ["x", "conv_w"], ["c"], name="conv", strides=[2, 2], pads=[1] * 4),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "fc1_w", "fc1_b"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["hr"], name="relu2"),
        helper.make_node("Gemm", ["hr", "fc2_w", "fc2_b"], ["y"], name="fc2", transB=1),
    ]
    initializers = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in arrays.items()]
    return make_model(nodes, [tensor("x", [1, 3, 12, 12])], [tensor("y", [1, 10])], initializers)


def level_graphs(model: onnx.ModelProto, levels: list[dict[str, int]]) -> list:
    """The IR of each level: the model with the given layers factored at the given ranks."""
    base = frontend(model)
    graphs = []
    for ranks in levels:
        graph = copy.deepcopy(base)
        for layer, rank in ranks.items():
            dense_svd.factor(graph, layer, rank)
        graphs.append(graph)
    return graphs


def low_rank_model(model: onnx.ModelProto, ranks: dict[str, int]) -> onnx.ModelProto:
    """The model with each factored layer's weights replaced by their numpy rank-r
    reconstruction: what a factored level computes, for onnxruntime to evaluate."""
    result = onnx.ModelProto()
    result.CopyFrom(model)
    for initializer in result.graph.initializer:
        layer = initializer.name.removesuffix("_w")
        if layer in ranks:
            weights = numpy_helper.to_array(initializer).astype(np.float64)
            u, s, vt = np.linalg.svd(weights, full_matrices=False)
            rank = ranks[layer]
            approx = ((u[:, :rank] * s[:rank]) @ vt[:rank]).astype(np.float32)
            initializer.CopyFrom(numpy_helper.from_array(approx, initializer.name))
    return result


def build_levels(graphs, directory, target="host", **options):
    """Lower each graph as one level and write them as one bundle."""
    target = load_target(target)
    prepare_output_dir(str(directory))
    with tempfile.TemporaryDirectory(prefix="deepxc-levels-") as workdir:
        levels = [
            lower_partition(graph, target, workdir, threads=1, log=quiet, level=index)
            for index, graph in enumerate(graphs)
        ]
        summaries = [model_summary(graph) for graph in graphs]
        manifest = write_bundle(
            str(directory), levels, target, "conv_mlp", graphs[0].outputs, summaries, **options
        )
    return manifest, levels


def blob_bytes(levels) -> int:
    """The size of a blob holding each distinct weight name of `levels` once."""
    distinct = {}
    for partition in levels:
        distinct.update(partition.weights)
    return HEADER_BYTES + sum(align(np.asarray(v).nbytes) for v in distinct.values())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    model = conv_mlp()
    graphs = level_graphs(model, RANKS)
    directory = tmp_path_factory.mktemp("levels")
    info = [{"rlc": {"ranks": ranks}} for ranks in RANKS]
    manifest, levels = build_levels(graphs, directory, level_info=info)
    return directory, manifest, levels, graphs


def test_each_level_computes_its_own_graph(bundle):
    directory, manifest, _, _ = bundle
    model = conv_mlp()
    inputs = random_inputs(model)
    assert_close(run_bundle(str(directory), inputs)[0], reference_outputs(model, inputs))
    outputs = []
    for level, ranks in enumerate(RANKS):
        got, _ = run_bundle(str(directory), inputs, level=level)
        assert_close(got, reference_outputs(low_rank_model(model, ranks), inputs))
        outputs.append(got["y"])
    # the levels differ: a level that ran another level's calls would fail here
    assert not np.allclose(outputs[0], outputs[1]) and not np.allclose(outputs[1], outputs[2])


def test_switching_levels_in_one_process_matches_single_level_bundles(bundle, tmp_path):
    directory, _, _, graphs = bundle
    inputs = random_inputs(conv_mlp(), seed=4)
    order = [1, 0, 2, 1, 0]
    runs = run_levels(str(directory), order, inputs)
    alone = {}
    for level in set(order):
        build_levels([graphs[level]], tmp_path / f"alone{level}")
        alone[level], _ = run_bundle(str(tmp_path / f"alone{level}"), inputs)
    for level, outputs in zip(order, runs):
        np.testing.assert_array_equal(outputs["y"], alone[level]["y"])


def test_blob_stores_each_weight_once(bundle):
    directory, manifest, levels, _ = bundle
    expected = blob_bytes(levels)
    assert (directory / "weights.bin").stat().st_size == expected
    assert manifest["sizes"]["weights_bytes"] == expected
    # the unfactored convolution and fc2 of level 1 are shared, so the blob is smaller
    # than the levels' weights side by side
    shared = set(levels[0].weights) & set(levels[1].weights)
    assert any(name.startswith("conv_w") for name in shared)
    assert any(name.startswith("fc2_w") for name in shared)
    side_by_side = sum(align(np.asarray(v).nbytes) for p in levels for v in p.weights.values())
    assert expected < HEADER_BYTES + side_by_side


def test_manifest_and_header_describe_every_level(bundle):
    directory, manifest, levels, graphs = bundle
    records = manifest["levels"]
    assert [r["level"] for r in records] == [0, 1, 2]
    assert [r["rlc"]["ranks"] for r in records] == RANKS  # level_info merged in
    macs = [model_summary(graph)["totals"]["macs"] for graph in graphs]
    assert [r["macs"] for r in records] == macs and macs[0] > macs[1] > macs[2]
    assert manifest["totals"]["macs"] == macs[0]
    assert manifest["kernel_calls"] == records[0]["kernel_calls"]
    assert [len(r["kernel_calls"]) for r in records] == [len(p.calls) for p in levels]
    # one arena, as big as the largest level needs
    assert manifest["sizes"]["arena_bytes"] == max(r["arena_bytes"] for r in records)
    header = (directory / "model.h").read_text()
    assert re.search(r"#define DEEPX_NUM_LEVELS 3\b", header)
    for level, value in enumerate(macs):
        assert f"#define DEEPX_LEVEL{level}_MACS {value}ull" in header
    assert f"#define DEEPX_MACS {macs[0]}ull" in header


def test_levels_have_their_own_kernel_symbols_and_objects(bundle):
    directory, _, levels, _ = bundle
    prefixes = ["dx_cpu_", "dx_cpu_l1_", "dx_cpu_l2_"]
    objects = ["kernels_cpu.o", "kernels_cpu_l1.o", "kernels_cpu_l2.o"]
    for partition, prefix, name in zip(levels, prefixes, objects):
        assert partition.object_path.endswith("/" + name)
        assert (directory / name).exists()
        assert all(k.symbol.startswith(prefix) for k in partition.kernels)
    assert not any(k.symbol.startswith("dx_cpu_l") for k in levels[0].kernels)


def test_invalid_level_is_refused(bundle, capsys):
    directory, _, _, _ = bundle
    for level in ("3", "-1"):
        result = subprocess.run(
            [str(directory / "model"), "-w", str(directory / "weights.bin"), "--level", level],
            capture_output=True,
            text=True,
        )
        assert result.returncode != 0
        assert f"--level {level}: no such compression level" in result.stderr
    with pytest.raises(RunError, match="no compression level 3; this bundle has levels 0..2"):
        run_bundle(str(directory), level=3)
    assert main(["run", str(directory), "--level", "3"]) == 1
    assert "no compression level 3" in capsys.readouterr().err
    assert main(["run", str(directory), "--level", "2"]) == 0


def test_weights_under_one_name_must_be_one_array(bundle, tmp_path):
    a = np.arange(6, dtype=np.float32)
    merged = merge_weights([{"w": a, "x": a}, {"w": a.copy()}])
    assert list(merged) == ["w", "x"]
    with pytest.raises(BundleError, match="weight 'w': level 1"):
        merge_weights([{"w": a}, {"w": a + 1}])
    with pytest.raises(BundleError, match="weight 'w'"):
        merge_weights([{"w": a}, {"w": a.astype(np.float64)}])
    with pytest.raises(BundleError, match="weight 'w'"):
        merge_weights([{"w": a}, {"w": a.reshape(2, 3)}])
    _, _, levels, graphs = bundle
    summaries = [model_summary(graph) for graph in graphs[:2]]
    with pytest.raises(BundleError, match="level 0 was lowered as level 1"):
        write_bundle(str(tmp_path), levels[1::-1], load_target("host"), "m", ["y"], summaries)


def test_profile_build_times_the_current_level(tmp_path):
    model = conv_mlp()
    graphs = level_graphs(model, RANKS[:2])
    manifest, _ = build_levels(graphs, tmp_path, profile=True)
    inputs = random_inputs(model)
    for level, ranks in enumerate(RANKS[:2]):
        outputs, _, calls = profile_bundle(str(tmp_path), inputs, bench=2, level=level)
        assert [c["kernel"] for c in calls] == [
            c["kernel"] for c in manifest["levels"][level]["kernel_calls"]
        ]
        assert any(c["ms"] > 0 for c in calls)
        assert_close(outputs, reference_outputs(low_rank_model(model, ranks), inputs))
        assert any("fc1_rlc" in call["layers"] for call in calls) == (level == 1)


@pytest.mark.skipif(
    not (shutil.which("aarch64-linux-gnu-gcc") and shutil.which("qemu-aarch64")),
    reason="the aarch64 cross compiler and qemu-user are not installed",
)
def test_levels_under_qemu_aarch64(tmp_path):
    model = conv_mlp()
    graphs = level_graphs(model, RANKS)
    build_levels(graphs, tmp_path, target="aarch64")
    inputs = random_inputs(model)
    order = [2, 0, 1]
    for level, outputs in zip(order, run_levels(str(tmp_path), order, inputs)):
        assert_close(outputs, reference_outputs(low_rank_model(model, RANKS[level]), inputs))


def test_unnamed_constants_get_names_of_their_level(tmp_path):
    """Relax numbers the constants it makes (here Gather's indices) in order of use; a
    level > 0 names them apart, so two levels never claim one name for two arrays."""
    rng = np.random.default_rng(2)
    indices = numpy_helper.from_array(rng.permutation(40)[:32].astype(np.int64), "idx")
    weights = numpy_helper.from_array(rng.standard_normal((32, 24)).astype(np.float32), "fc1_w")
    model = make_model(
        [
            helper.make_node("Gather", ["x", "idx"], ["g"], name="pick", axis=1),
            helper.make_node("MatMul", ["g", "fc1_w"], ["y"], name="fc1"),
        ],
        [tensor("x", [2, 40])],
        [tensor("y", [2, 24])],
        [indices, weights],
    )
    ranks = [{}, {"fc1": 6}]
    _, levels = build_levels(level_graphs(model, ranks), tmp_path)
    assert "const0" in levels[0].weights and "l1_const0" in levels[1].weights
    assert "const0" not in levels[1].weights
    assert all(arg in levels[1].buffers for call in levels[1].calls for arg in call.args)
    inputs = random_inputs(model)
    for level, outputs in enumerate(run_levels(str(tmp_path), [0, 1], inputs)):
        assert_close(outputs, reference_outputs(low_rank_model(model, ranks[level]), inputs))


def test_levels_share_a_factor_stored_at_the_largest_rank(tmp_path):
    """RLC stores a factor once at the largest rank any level uses; a level of lower rank
    reads its leading slices. The blob then holds that factor once for both levels."""
    model = conv_mlp()
    base = frontend(model)
    layer = dense_svd.DenseSVD(base, base.node("fc1"))
    graphs = [copy.deepcopy(base) for _ in range(3)]
    for graph, rank in zip(graphs[1:], (24, 8)):
        layer.factor(graph, rank, stored_rank=24)
    manifest, levels = build_levels(graphs, tmp_path)
    factors = [{n for n in p.weights if n.startswith("fc1_rlc")} for p in levels]
    assert factors[1] and factors[1] == factors[2]  # one name, one array, for both levels
    expected = blob_bytes(levels)
    assert manifest["sizes"]["weights_bytes"] == expected
    inputs = random_inputs(model)
    for level, outputs in enumerate(run_levels(str(tmp_path), [0, 1, 2], inputs)):
        ranks = [{}, {"fc1": 24}, {"fc1": 8}][level]
        assert_close(outputs, reference_outputs(low_rank_model(model, ranks), inputs))
