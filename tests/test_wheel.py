"""deepxc as a user installs it: a wheel, a fresh venv, a build outside the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import onnx
import pytest

import deepxc.targets
from deepxc.cli.main import main
from tests.support import assert_close, reference_outputs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx")
NOT_SHIPPED = (".git", ".venv", "out", "build", "*.egg-info", "__pycache__", ".*_cache")


def _user_env() -> dict:
    """The environment of a user who never saw the checkout: no PYTHONPATH, no overrides."""
    return {
        key: value
        for key, value in os.environ.items()
        if key != "PYTHONPATH" and not key.startswith("DEEPXC_")
    }


def _run(command: list[str], cwd: str, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, cwd=cwd, env=_user_env(), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[str, str]:
    """(wheel path, the build's output): built from a copy of the sources, so the
    checkout gets no build/ or egg-info of it."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SHIPPED))
    result = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(base / "dist"), "."],
        cwd=str(source),
    )
    (path,) = (base / "dist").glob("deepxc-*.whl")
    return str(path), result.stdout + result.stderr


@pytest.mark.slow
def test_wheel_ships_targets_and_templates(wheel):
    path, _ = wheel
    names = zipfile.ZipFile(path).namelist()
    targets = {os.path.basename(n) for n in names if n.startswith("deepxc/targets/")}
    templates = {os.path.basename(n) for n in names if n.startswith("deepxc/templates/")}
    assert {f"{t}.toml" for t in deepxc.targets.known_targets()} <= targets
    here = os.path.join(ROOT, "deepxc", "templates")
    assert set(os.listdir(here)) <= templates


@pytest.mark.slow
def test_wheel_builds_without_setuptools_deprecations(wheel):
    _, output = wheel
    assert "SetuptoolsDeprecationWarning" not in output
    warned = [
        line for line in output.lower().splitlines() if "license" in line and "deprecat" in line
    ]
    assert not warned, warned


@pytest.mark.slow
def test_fresh_venv_builds_and_runs_the_default_example(wheel, tmp_path):
    path, _ = wheel
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=str(tmp_path))
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", path], cwd=str(tmp_path))
    work = tmp_path / "work"  # outside the checkout
    work.mkdir()
    shutil.copy(EXAMPLE, work / "model.onnx")
    deepxc = str(venv / "bin" / "deepxc")

    where = _run(
        [str(venv / "bin" / "python"), "-c", "import deepxc; print(deepxc.__file__)"], str(work)
    )
    assert where.stdout.strip().startswith(str(venv))
    listed = _run([deepxc, "targets"], str(work)).stdout.split()
    assert {"host", "tegra-k1", "snapdragon-400", "aarch64"} <= set(listed)

    model = onnx.load(str(work / "model.onnx"))
    name = model.graph.input[0].name
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.savez(work / "inputs.npz", **{name: x})
    _run([deepxc, "build", "model.onnx", "--target", "host", "-o", "bundle"], str(work))
    _run([deepxc, "run", "bundle", "-i", "inputs.npz", "-o", "outputs.npz"], str(work))
    with np.load(work / "outputs.npz") as outputs:
        actual = {key: outputs[key] for key in outputs.files}
    assert_close(actual, reference_outputs(model, {name: x}))


def test_no_target_files_is_a_loud_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(deepxc.targets, "TARGETS_DIR", tmp_path)
    assert main(["targets"]) == 1
    error = capsys.readouterr().err
    assert "no target files" in error and str(tmp_path) in error
    assert main(["build", EXAMPLE, "-o", str(tmp_path / "b")]) == 1
    assert "no target files" in capsys.readouterr().err
