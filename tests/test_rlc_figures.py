"""The RLC figures are what the user gets, on the trained digits CNN: the plan's weight
bytes are weights.bin's payload (as its own header states it), a weight budget bounds the
weights.bin file, --rlc-levels keeps the order given, each level says what it reads of the
one blob and what the blob stores, and a level estimated to lose more accuracy than the
user accepts is warned about (its loss confirmed by running the bundle)."""

from __future__ import annotations

import json
import os
import re
import struct

import numpy as np
import pytest

from deepxc.cli.main import main
from deepxc.rlc.plan import Budget, LevelPlan, RlcPlan
from deepxc.rlc.report import level_warnings
from deepxc.runner import run_dataset

FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
MODEL = os.path.join(FOLDER, "digits", "model.onnx")
CALIBRATION = os.path.join(FOLDER, "digits", "calibration.npz")


def _build(directory, *flags: str) -> dict:
    argv = ["build", MODEL, "-o", str(directory), "--threads", "1", *flags]
    assert main(argv) == 0
    with open(os.path.join(directory, "manifest.json")) as file:
        return json.load(file)


def _payload_bytes(directory) -> int:
    """The payload length weights.bin's header states: magic, then u64 payload bytes."""
    with open(os.path.join(directory, "weights.bin"), "rb") as file:
        header = file.read(16)
    assert header[:8] == b"DEEPXWT1"
    (payload,) = struct.unpack("<Q", header[8:16])
    assert os.path.getsize(os.path.join(directory, "weights.bin")) - payload == 64
    return payload


def _header_macro(directory, name: str) -> int:
    text = open(os.path.join(directory, "model.h")).read()
    return int(re.search(rf"#define DEEPX_{name} (\d+)u", text).group(1))


def _bundle_accuracy(directory, level: int) -> float:
    """The accuracy of the bundle's level on the calibration examples and labels."""
    with np.load(CALIBRATION) as data:
        inputs, labels = data["input"], data["labels"]
    (outputs,) = run_dataset(str(directory), {"input": inputs}, [level])
    logits = outputs["logits"]
    return float(np.mean(logits.argmax(axis=1) == labels))


@pytest.fixture(scope="module")
def uncompressed(tmp_path_factory):
    directory = tmp_path_factory.mktemp("digits_plain")
    _build(directory)
    return directory


def test_plan_weight_bytes_are_the_payload_and_the_budget_bounds_weights_bin(
    uncompressed, tmp_path, capsys
):
    capsys.readouterr()
    manifest = _build(tmp_path, "--rlc-weights", "0.3", "--calibration", CALIBRATION)
    printed = capsys.readouterr().err
    payload = _payload_bytes(tmp_path)
    rlc = manifest["levels"][0]["rlc"]
    assert rlc["weight_bytes"] == payload
    assert rlc["stored_weight_bytes"] == payload
    assert manifest["levels"][0]["weight_bytes"] == payload
    assert _header_macro(tmp_path, "LEVEL0_WEIGHT_BYTES") == payload
    row = re.search(r"rlc: +0 +weights <= 30% +[\d,]+ +[\d.]+x +([\d,]+) ", printed)
    assert int(row.group(1).replace(",", "")) == payload
    # the plan's uncompressed figure is the uncompressed bundle's payload
    before = re.search(r"uncompressed: [\d,]+ MACs, ([\d,]+) weight bytes", printed)
    assert int(before.group(1).replace(",", "")) == _payload_bytes(uncompressed)
    size = os.path.getsize(tmp_path / "weights.bin")
    assert size <= 0.3 * os.path.getsize(uncompressed / "weights.bin")


def test_levels_keep_their_order_and_say_what_they_read(uncompressed, tmp_path, capsys):
    capsys.readouterr()
    flags = ["--rlc-levels", "0.3,1.0,0.05", "--rlc-levels-by", "both"]
    manifest = _build(tmp_path, *flags, "--calibration", CALIBRATION)
    printed = capsys.readouterr().err
    levels = manifest["levels"]
    budgets = [entry["rlc"]["budget"] for entry in levels]
    assert budgets == ["MACs <= 30%, weights <= 30%", "uncompressed", "MACs <= 5%, weights <= 5%"]
    assert levels[1]["macs"] > levels[0]["macs"] > levels[2]["macs"]
    payload = _payload_bytes(tmp_path)
    # the uncompressed level reads what the uncompressed bundle stores
    assert levels[1]["weight_bytes"] == _payload_bytes(uncompressed)
    assert f"the blob stores every level's weights once: {payload:,} bytes" in printed
    header = open(tmp_path / "model.h").read()
    for entry in levels:
        rlc, index = entry["rlc"], entry["level"]
        assert rlc["stored_weight_bytes"] == payload
        assert rlc["weight_bytes"] == entry["weight_bytes"] <= payload
        assert _header_macro(tmp_path, f"LEVEL{index}_WEIGHT_BYTES") == entry["weight_bytes"]
        comment = f"/* level {index}: {rlc['budget']}: {entry['macs']:,} MACs, reads "
        assert comment in header
    # level 2 is estimated to lose more than the default 0.05: warned in the output, the
    # manifest and model.h; the bundle itself confirms the loss on the calibration data
    accuracy = [_bundle_accuracy(tmp_path, level) for level in (1, 2)]
    estimate = levels[2]["rlc"]["estimated_accuracy"]
    assert abs(accuracy[1] - estimate) <= 0.02 and accuracy[0] - accuracy[1] > 0.05
    loss = f"{accuracy[0] - estimate:.2f} below the uncompressed {accuracy[0]:.2f}"
    warning = f"level 2 (MACs <= 5%, weights <= 5%): estimated accuracy {estimate:.2f}, {loss}"
    assert f"warning: {warning}" in printed
    assert any(w.startswith(warning) for w in levels[2]["rlc"]["warnings"])
    assert not any(
        "accuracy" in w for w in levels[0]["rlc"]["warnings"] + levels[1]["rlc"]["warnings"]
    )
    assert re.search(r"/\* level 2: .*warning: level 2 .*estimated accuracy", header)


def _plan(accuracy: float, budget: Budget) -> RlcPlan:
    plan = RlcPlan("accuracy", "cal.npz", 100, 1000, 4000, 0.93, [], header_bytes=64)
    plan.levels.append(LevelPlan(budget, {}, 100, 400, accuracy, 400))
    return plan


@pytest.mark.parametrize(
    "budget,accuracy,warned",
    [
        (Budget(macs=0.1), 0.62, True),  # 0.31 below: more than the default 0.05
        (Budget(macs=0.1), 0.89, False),  # 0.04 below
        (Budget(macs=0.1, warn_loss=0.4), 0.62, False),  # --rlc-warn-loss 0.4
        (Budget(macs=0.1, warn_loss=0.01), 0.90, True),
        (Budget(max_loss=0.1), 0.85, False),  # --rlc-max-loss is what the user accepts
        (Budget(max_loss=0.01), 0.90, True),
    ],
)
def test_a_loss_above_what_the_user_accepts_is_warned_about(budget, accuracy, warned):
    warnings = level_warnings(_plan(accuracy, budget), 0)
    assert bool(warnings) == warned
    if warned:
        loss = 0.93 - accuracy
        assert warnings[0].startswith(
            f"level 0 ({budget.describe()}): estimated accuracy {accuracy:.2f}, "
            f"{loss:.2f} below the uncompressed 0.93"
        )


def test_a_level_reading_more_than_its_weight_budget_is_warned_about():
    plan = _plan(0.93, Budget(weights=0.1))  # allows 0.1 * (4000 + 64) - 64 = 342 bytes
    plan.levels[0].weight_bytes = 342
    assert level_warnings(plan, 0) == []
    plan.levels[0].weight_bytes = 343
    (warning,) = level_warnings(plan, 0)
    assert "reads 343 weight bytes of the blob it shares, more than its budget allows (342)" in (
        warning
    )
