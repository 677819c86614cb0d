"""`deepxc build --rlc-levels` end to end on the trained digits CNN: every level of the
bundle computes the model with the chosen layers at the chosen ranks (checked against
onnxruntime running the model with numpy's rank-r weights), switching levels in one
process gives what a bundle built for that level alone gives, and the blob stores each
factor once."""

from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import onnx
import pytest
from lowrank_reference import reference_model
from onnx import numpy_helper
from support import assert_close, reference_outputs

from deepxc.cli.main import main
from deepxc.emit.memory_plan import align
from deepxc.emit.weights import HEADER_BYTES
from deepxc.runner import run_bundle, run_levels

FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
MODEL = os.path.join(FOLDER, "digits", "model.onnx")
CALIBRATION = os.path.join(FOLDER, "digits", "calibration.npz")
LEVELS = ["--rlc-levels", "1.0,0.3,0.15", "--rlc-levels-by", "both"]
EXAMPLES = 8


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("digits_levels"))
    argv = ["build", MODEL, "-o", directory, "--threads", "1", "--calibration", CALIBRATION]
    assert main(argv + LEVELS) == 0
    with open(os.path.join(directory, "manifest.json")) as file:
        return directory, json.load(file)


def _test_inputs():
    with np.load(os.path.join(FOLDER, "digits", "test.npz")) as data:
        return data["input"][:EXAMPLES]


@pytest.fixture(scope="module")
def arm_bundle(tmp_path_factory):
    """The same levels cross-compiled for the Tegra K1's Cortex-A15 (run under qemu-arm)."""
    if not (shutil.which("arm-linux-gnueabihf-gcc") and shutil.which("qemu-arm")):
        pytest.skip("the armhf cross compiler and qemu-user are not installed")
    directory = str(tmp_path_factory.mktemp("digits_levels_k1"))
    argv = ["build", MODEL, "-o", directory, "--target", "tegra-k1", "--threads", "1"]
    assert main(argv + ["--calibration", CALIBRATION] + LEVELS) == 0
    with open(os.path.join(directory, "manifest.json")) as file:
        return directory, json.load(file)


@pytest.mark.parametrize("which", ["bundle", "arm_bundle"])
def test_each_level_computes_the_chosen_ranks(which, request):
    directory, manifest = request.getfixturevalue(which)
    levels = manifest["levels"]
    assert len(levels) == 3 and not any(row["form"] for row in levels[0]["rlc"]["layers"])
    for entry in levels[1:]:
        assert any(row["form"] for row in entry["rlc"]["layers"])
        assert entry["macs"] == entry["rlc"]["macs"]  # the plan's count is the graph's
    for entry in levels:
        reference = reference_model(MODEL, entry["rlc"]["layers"])
        for example in _test_inputs():
            inputs = {"input": example[None]}
            outputs, _ = run_bundle(directory, inputs, level=entry["level"])
            assert_close(outputs, reference_outputs(reference, inputs), 1e-4)


def test_levels_call_the_kernels_they_share_with_level_0(bundle):
    """A layer a level leaves as it is runs level 0's kernel: it is not compiled twice."""
    directory, manifest = bundle
    level0 = {c["kernel"] for c in manifest["levels"][0]["kernel_calls"]}
    for entry in manifest["levels"][1:]:
        kernels = [c["kernel"] for c in entry["kernel_calls"]]
        shared = [k for k in kernels if k in level0]
        own = [k for k in kernels if k.startswith(f"dx_cpu_l{entry['level']}_")]
        assert shared and own and len(shared) + len(own) == len(kernels)
        assert os.path.exists(os.path.join(directory, f"kernels_cpu_l{entry['level']}.o"))
    model_c = open(os.path.join(directory, "model.c")).read()
    for symbol in level0:
        assert model_c.count(f"static int32_t {symbol}(") == 1  # one wrapper per kernel


def test_switching_levels_matches_a_bundle_built_for_the_level_alone(bundle, tmp_path):
    directory, manifest = bundle
    alone = str(tmp_path / "alone")
    argv = ["build", MODEL, "-o", alone, "--threads", "1", "--calibration", CALIBRATION]
    assert main(argv + ["--rlc-macs", "0.15", "--rlc-weights", "0.15"]) == 0
    with open(os.path.join(alone, "manifest.json")) as file:
        single = json.load(file)["levels"][0]["rlc"]["layers"]
    assert single == manifest["levels"][2]["rlc"]["layers"]  # the same plan
    inputs = {"input": _test_inputs()[:1]}
    runs = run_levels(directory, [2, 0, 1, 2], inputs)
    expected, _ = run_bundle(alone, inputs)
    for run in (runs[0], runs[3]):
        np.testing.assert_allclose(run["logits"], expected["logits"], rtol=1e-5, atol=1e-5)
    assert not np.allclose(runs[0]["logits"], runs[1]["logits"], rtol=0, atol=1e-6)


def test_blob_stores_each_factor_once_and_originals_only_where_kept(bundle):
    directory, manifest = bundle
    model = onnx.load(MODEL)
    initializers = {i.name: numpy_helper.to_array(i).nbytes for i in model.graph.initializer}
    used: dict[int, set[str]] = {}
    for entry in manifest["levels"]:
        args = {a for call in entry["kernel_calls"] for a in call["args"]}
        # weights laid out at build time are "tensor@layout"; others keep their name
        used[entry["level"]] = {a for a in args if "@" in a or a in initializers}
    names = set().union(*used.values())

    def stored_bytes(name: str) -> int:
        if "@" not in name:
            return align(initializers[name])
        layout = [int(d) for d in name.rsplit("@", 1)[1].split("x")]
        return align(4 * int(np.prod(layout)))

    size = os.path.getsize(os.path.join(directory, "weights.bin"))
    assert size == HEADER_BYTES + sum(stored_bytes(n) for n in names)
    weight_of = {node.name: node.input[1] for node in model.graph.node if len(node.input) > 1}
    for layer in manifest["levels"][0]["rlc"]["layers"]:
        name = layer["name"]
        forms = {
            e["level"]: row["form"]
            for e in manifest["levels"]
            for row in e["rlc"]["layers"]
            if row["name"] == name
        }
        original = {n for n in names if n.startswith(f"{weight_of[name]}@")}
        # the original weights are stored iff some level keeps the layer (level 0 does)
        assert len(original) == (1 if None in forms.values() else 0), (name, original)
        for form in set(forms.values()) - {None}:
            for part in ("a", "b"):
                pattern = re.compile(rf"{re.escape(name)}_rlc_{form}_{part}@")
                stored = {n for n in names if pattern.match(n)}
                assert len(stored) == 1, (name, form, part, stored)  # one array, every level
                sharing = [k for k, f in forms.items() if f == form]
                assert all(stored <= used[k] for k in sharing)
    separate = sum(sum(stored_bytes(n) for n in level_names) for level_names in used.values())
    assert size < HEADER_BYTES + separate  # levels side by side would store more


def test_inspect_prints_the_same_plan_as_build(bundle, capsys):
    _, manifest = bundle
    argv = ["inspect", MODEL, "--rlc", "--calibration", CALIBRATION]
    assert main(argv + LEVELS) == 0
    text = capsys.readouterr().out
    for entry in manifest["levels"]:
        rlc = entry["rlc"]
        assert re.search(
            rf"rlc: +{entry['level']} +{re.escape(rlc['budget'])} +{rlc['macs']:,} ", text
        )
        for row in rlc["layers"]:
            if row["form"]:
                assert re.search(
                    rf"{row['name']} +{row['form']} +{row['rank']}/{row['full_rank']} ", text
                )
