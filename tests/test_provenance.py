"""manifest.json's "provenance": the hashes are those hashlib computes on the files, the
versions those the libraries report, the command line the one that ran, and every option
of the build is there, from the command line and from the Python API."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone

import numpy as np
import onnx
import tvm
from support import quiet

import deepxc
from deepxc.pipeline import build_model
from deepxc.provenance import cpu_model
from deepxc.rlc.plan import Budget

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx")


def _sha256(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def _check_common(record: dict, before: datetime, after: datetime) -> None:
    assert record["versions"] == {
        "deepxc": deepxc.__version__,
        "tvm": tvm.__version__,
        "python": platform.python_version(),
    }
    assert record["build_machine"]["platform"] == platform.platform()
    built = datetime.fromisoformat(record["time"])
    assert built.tzinfo is not None
    assert before.replace(microsecond=0) <= built <= after


def test_command_line_build_records_where_the_bundle_came_from(tmp_path):
    bundle = tmp_path / "bundle"
    args = ["build", MODEL, "--target", "host", "--threads", "1", "--name", "kws"]
    args += ["--input-shape", "image=1,3,32,32", "-o", str(bundle)]
    before = datetime.now(timezone.utc)
    result = subprocess.run(
        [sys.executable, "-m", "deepxc.cli.main", *args], capture_output=True, text=True
    )
    after = datetime.now(timezone.utc)
    assert result.returncode == 0, result.stderr
    record = json.loads((bundle / "manifest.json").read_text())["provenance"]

    assert record["onnx"] == {"path": MODEL, "sha256": _sha256(MODEL)}
    assert record["command_line"][1:] == args  # sys.argv: [main.py, build, ...]
    assert record["command_line"][0].endswith(os.path.join("deepxc", "cli", "main.py"))
    assert record["call"] == "deepxc.pipeline.build"
    assert record["options"] == {
        "target": "host",
        "output": str(bundle),
        "threads": 1,
        "name": "kws",
        "embed_weights": False,
        "profile": False,
        "emit_only": False,
        "input_shapes": {"image": [1, 3, 32, 32]},
        "rlc_budgets": None,
        "place": None,
        "plan": None,
        "remote": None,
        "plan_request": None,
        "calibration": None,
    }
    _check_common(record, before, after)
    # the host target compiles for this machine's CPU, so its model is recorded
    with open("/proc/cpuinfo") as file:
        names = re.findall(r"^model name\s*:\s*(.*)$", file.read(), re.M)
    if names:
        assert record["build_machine"]["cpu"] == names[0].strip()


def test_python_api_build_records_its_options_and_calibration(tmp_path):
    model = onnx.load(MODEL)
    calibration = tmp_path / "calibration.npz"
    examples = np.random.default_rng(3).standard_normal((8, 3, 32, 32)).astype(np.float32)
    np.savez(calibration, **{model.graph.input[0].name: examples})
    budgets = [Budget(), Budget(macs=0.5)]
    before = datetime.now(timezone.utc)
    manifest = build_model(
        model,
        "aarch64",
        str(tmp_path / "bundle"),
        log=quiet,
        threads=2,
        embed_weights=True,
        profile=True,
        budgets=budgets,
        calibration=str(calibration),
    )
    after = datetime.now(timezone.utc)
    record = manifest["provenance"]

    serialized = hashlib.sha256(model.SerializeToString()).hexdigest()
    assert record["onnx"] == {"path": None, "sha256": serialized}
    assert record["command_line"] is None
    assert record["call"] == "deepxc.pipeline.build_model"
    options = record["options"]
    assert options["target"] == "aarch64"
    assert (options["threads"], options["embed_weights"], options["profile"]) == (2, True, True)
    assert options["name"] is None and options["input_shapes"] is None
    assert options["rlc_budgets"] == [
        {"macs": None, "weights": None, "max_loss": None, "warn_loss": 0.05},
        {"macs": 0.5, "weights": None, "max_loss": None, "warn_loss": 0.05},
    ]
    assert options["calibration"] == {"path": str(calibration), "sha256": _sha256(calibration)}
    _check_common(record, before, after)
    # the kernels were compiled for a named CPU, not this machine's: no CPU model recorded
    assert "cpu" not in record["build_machine"]
    assert record["environment"] == {"DEEPXC_EXTRA_CFLAGS": os.environ["DEEPXC_EXTRA_CFLAGS"]}
    on_disk = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert on_disk["provenance"] == record


def test_cpu_model_reads_the_first_named_processor(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\n\n"
        "processor\t: 1\nmodel name\t: AMD EPYC 9R14\n"
    )
    assert cpu_model(str(cpuinfo)) == "AMD EPYC 9R14"
    cpuinfo.write_text("processor\t: 0\nBogoMIPS\t: 48.00\nFeatures\t: fp asimd\n")
    assert cpu_model(str(cpuinfo)) is None
    assert cpu_model(str(tmp_path / "missing")) is None
