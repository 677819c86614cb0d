"""The commands a user runs: build, run (with --bench), inspect, targets, debug dumps."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from models import make_model, relu_add, tensor
from onnx import helper, numpy_helper
from support import reference_outputs

from deepxc.cli.main import main
from deepxc.targets import load_target


def conv_gemm_model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((6, 3, 3, 3)).astype(np.float32), "w")
    fc = numpy_helper.from_array(rng.standard_normal((5, 6 * 4 * 4)).astype(np.float32), "fc")
    return make_model(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], name="conv", strides=[2, 2]),
            helper.make_node("Flatten", ["c"], ["f"], name="flat"),
            helper.make_node("Gemm", ["f", "fc"], ["y"], name="dense", transB=1),
        ],
        [tensor("x", [1, 3, 9, 9])],
        [tensor("y", [1, 5])],
        [w, fc],
    )


def test_build_run_and_save_outputs(tmp_path, capsys):
    model_path = tmp_path / "m.onnx"
    onnx.save(relu_add((3, 5)), model_path)
    assert main(["build", str(model_path), "-o", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "ingest" in err and "lower" in err and "emit" in err  # progress by stage
    x = np.random.default_rng(3).standard_normal((3, 5)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    assert (
        main(
            [
                "run",
                str(tmp_path / "b"),
                "-i",
                str(tmp_path / "in.npz"),
                "-o",
                str(tmp_path / "out.npz"),
                "--bench",
                "3",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "median_ms=" in out
    got = np.load(tmp_path / "out.npz")["y"]
    expected = reference_outputs(relu_add((3, 5)), {"x": x})["y"]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_inspect_counts_params_and_macs(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(conv_gemm_model(), path)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    conv_out = 1 * 6 * 4 * 4  # (9 - 3) / 2 + 1 = 4
    conv_macs = conv_out * 3 * 3 * 3
    dense_macs = 5 * 96
    params = 6 * 3 * 3 * 3 + 5 * 96
    assert f"{conv_macs:,}" in out and f"{dense_macs:,}" in out
    assert f"{params:,} parameters" in out
    assert f"{conv_macs + dense_macs:,} MACs" in out


def test_targets_lists_every_target_file(capsys):
    assert main(["targets"]) == 0
    listing = capsys.readouterr().out.split("\n\n")[0].splitlines()
    names = [line.split()[0] for line in listing if not line[0].isspace()]
    assert names == ["aarch64", "host", "host-cuda", "host-opencl", "snapdragon-400", "tegra-k1"]


def test_targets_lists_each_processor_and_its_code(capsys):
    assert main(["targets"]) == 0
    listing = capsys.readouterr().out.split("\n\n")[0].splitlines()
    processors = {  # each target's line, then its processors' line
        target.split()[0]: line.split("processors: ")[1]
        for target, line in zip(listing[::2], listing[1::2])
    }
    tegra = "cpu (4 cores, 2.3 GHz), gpu (CUDA sm_32, PTX 4.1, 192 cores, 0.852 GHz)"
    assert processors["tegra-k1"] == tegra
    assert processors["snapdragon-400"] == "cpu (4 cores, 1.2 GHz), gpu (OpenCL 1.1, 0.45 GHz)"
    assert processors["aarch64"] == "cpu (4 cores, 1.5 GHz)"
    cores = load_target("host").cpu_cores
    assert processors["host"] == f"cpu ({cores} cores)"
    assert processors["host-opencl"] == f"cpu ({cores} cores), gpu (OpenCL 1.1)"
    assert processors["host-cuda"] == f"cpu ({cores} cores), gpu (CUDA sm_32, PTX 4.1)"


@pytest.mark.parametrize("command", ["build", "run", "inspect", "targets"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: deepxc" in capsys.readouterr().out


def test_debug_dump_shows_ir_after_each_pass(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DEEPXC_DEBUG", "2")
    path = tmp_path / "m.onnx"
    onnx.save(relu_add(), path)
    assert main(["build", str(path), "-o", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "--- IR after ingest ---" in err
    assert "relu1 = Relu(x)" in err


def test_profile_build_times_every_kernel_call(tmp_path, capsys):
    model_path = tmp_path / "m.onnx"
    onnx.save(conv_gemm_model(), model_path)
    assert main(["build", str(model_path), "--profile", "-o", str(tmp_path / "p")]) == 0
    assert main(["build", str(model_path), "-o", str(tmp_path / "plain")]) == 0
    x = np.random.default_rng(5).standard_normal((1, 3, 9, 9)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    capsys.readouterr()
    assert (
        main(
            [
                "run",
                str(tmp_path / "p"),
                "-i",
                str(tmp_path / "in.npz"),
                "--profile",
                "-o",
                str(tmp_path / "out.npz"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    rows = [line for line in out.splitlines() if line.strip().endswith(")") and "%" in line]
    assert len(rows) == len(manifest["kernel_calls"])
    assert any("(conv)" in row for row in rows) and any("(dense)" in row for row in rows)
    # timing does not change results
    expected = reference_outputs(conv_gemm_model(), {"x": x})["y"]
    np.testing.assert_allclose(np.load(tmp_path / "out.npz")["y"], expected, rtol=1e-5, atol=1e-5)
    # a plain build refuses --profile clearly
    code = main(["run", str(tmp_path / "plain"), "--profile"])
    assert code == 1 and "rebuild with --profile" in capsys.readouterr().err


def test_run_help_shows_examples_that_parse_and_how_levels_are_numbered(capsys):
    import shlex

    from deepxc.cli.main import _parser

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    examples = text.split("examples:\n", 1)[1].split("\n\n", 1)[0]
    commands = [line.split("  ", 2)[1] for line in examples.splitlines() if "deepxc run" in line]
    assert len(commands) >= 5 and any("--dataset" in c for c in commands)
    for command in commands:  # each example is a valid command line
        argv = shlex.split(command)[1:]
        assert _parser().parse_args(argv).command == "run", command
    levels = " ".join(text.split("levels:\n", 1)[1].split())
    assert "in the order the list gave" in levels and "--rlc-macs" in levels
