"""The README's first command runs examples/quickstart.py: it must keep working."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quickstart_matches_onnxruntime():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MATCH: deepxc agrees with onnxruntime" in result.stdout
    assert "median_ms=" in result.stdout


def test_example_model_is_what_its_script_makes():
    sys.path.insert(0, os.path.join(ROOT, "examples", "tiny_cnn"))
    from make_model import make_model

    with open(os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx"), "rb") as file:
        assert file.read() == make_model().SerializeToString()
