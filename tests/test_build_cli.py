"""`deepxc build` as a user expects it: a target file for --target, the host's cores by
default, --emit-only bundles that a firmware tree builds with their Makefile, a missing
compiler naming its Debian package, and an "examples:" section in every --help whose
examples parse."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from support import assert_close, reference_outputs

from deepxc.cli.main import _parser, main
from deepxc.runner import run_bundle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_CNN = os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx")
HOST_TOML = os.path.join(ROOT, "deepxc", "targets", "host.toml")


def _manifest(bundle) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def _target_file(path, **toolchain) -> str:
    """A copy of host.toml with another description and the [toolchain] keys replaced."""
    text = open(HOST_TOML).read()
    text = re.sub(r'(?m)^description = ".*"$', 'description = "my board"', text)
    for key, value in toolchain.items():
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {json.dumps(value)}", text)
    path.write_text(text)
    return str(path)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_target_file_is_used_and_recorded(tmp_path, capsys):
    cflags = ["-O1", "-std=c11", "-DBOARD_REV=3"]
    target = _target_file(tmp_path / "board.toml", cflags=cflags)
    bundle = tmp_path / "b"
    assert main(["build", TINY_CNN, "--target", target, "--threads", "1", "-o", str(bundle)]) == 0
    manifest = _manifest(bundle)
    assert manifest["target_description"] == "my board"
    assert manifest["target_file"] == os.path.realpath(target)
    assert manifest["toolchain"]["cflags"][: len(cflags)] == cflags
    assert "-DBOARD_REV=3" in (bundle / "Makefile").read_text()
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    outputs, _ = run_bundle(str(bundle), {"image": x})
    assert_close(outputs, reference_outputs(onnx.load(TINY_CNN), {"image": x}))


@pytest.mark.parametrize(
    "content, fragment",
    [(None, "no such file"), ("name = [", "broken target file"), ('name = "x"', "toolchain")],
    ids=["missing", "not_toml", "no_toolchain"],
)
def test_bad_target_file_is_one_line_naming_it(tmp_path, capsys, content, fragment):
    path = tmp_path / "board.toml"
    if content is not None:
        path.write_text(content)
    code = main(["build", TINY_CNN, "--target", str(path), "-o", str(tmp_path / "b")])
    assert code == 1
    line = _one_error_line(capsys)
    assert str(path) in line and fragment in line, line
    assert not (tmp_path / "b").exists()


def test_host_threads_default_to_the_cores_this_process_may_use(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    bundle = tmp_path / "b"
    assert main(["build", TINY_CNN, "-o", str(bundle)]) == 0
    assert _manifest(bundle)["threads"] == 3
    assert "#define DEEPX_MAX_THREADS 3 " in (bundle / "model.h").read_text()


def test_missing_compiler_names_its_debian_package(tmp_path, capsys):
    target = _target_file(
        tmp_path / "board.toml", cc="nowhere-linux-gnu-gcc", debian_package="gcc-nowhere"
    )
    bundle = tmp_path / "b"
    assert main(["build", TINY_CNN, "--target", target, "-o", str(bundle)]) == 1
    err = capsys.readouterr().err
    assert "lower:" not in err  # found before any work
    assert err.strip().splitlines()[-1] == (
        "deepxc: error: nowhere-linux-gnu-gcc not found: install Debian's gcc-nowhere "
        "(or pass --emit-only)"
    )
    assert not bundle.exists()
    # --emit-only needs no compiler: the bundle's Makefile names it for the firmware tree
    assert main(["build", TINY_CNN, "--target", target, "--emit-only", "-o", str(bundle)]) == 0
    assert "CC = nowhere-linux-gnu-gcc" in (bundle / "Makefile").read_text()


needs_arm_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("arm-linux-gnueabihf-gcc", "qemu-arm", "make")),
    reason="the ARM cross compiler, qemu-user and make are not installed",
)


@needs_arm_tools
def test_emit_only_bundle_builds_with_its_makefile_and_runs(tmp_path, capsys):
    bundle = tmp_path / "k1"
    argv = ["build", TINY_CNN, "--target", "tegra-k1", "--emit-only", "-o", str(bundle)]
    assert main(argv) == 0
    manifest = _manifest(bundle)
    assert manifest["compiled"] is False and manifest["sizes"]["code_bytes"] is None
    assert sorted(p.name for p in bundle.iterdir()) == [
        "CMakeLists.txt",
        "Makefile",
        "kernels_cpu.o",
        "main.c",
        "manifest.json",
        "model.c",
        "model.h",
        "weights.bin",
    ]
    capsys.readouterr()
    assert main(["run", str(bundle)]) == 1
    assert f"make -C {bundle}" in _one_error_line(capsys)
    result = subprocess.run(["make", "-C", str(bundle)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    x = np.random.default_rng(2).standard_normal((1, 3, 32, 32)).astype(np.float32)
    outputs, _ = run_bundle(str(bundle), {"image": x})  # under qemu-arm
    assert_close(outputs, reference_outputs(onnx.load(TINY_CNN), {"image": x}))
    # what make wrote belongs to the bundle: a rebuild replaces it
    assert main(argv) == 0
    assert not (bundle / "model").exists()


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def _examples(text: str) -> list[list[str]]:
    """The deepxc command lines of a help's examples section, continuation lines joined."""
    assert re.search(r"(?m)^examples\b.*:$", text), text
    section = text[re.search(r"(?m)^examples\b", text).start() :].replace("\\\n", " ")
    commands = [shlex.split(line, comments=True) for line in section.splitlines()]
    commands = [words[: words.index("|")] if "|" in words else words for words in commands]
    return [words[1:] for words in commands if words and words[0] == "deepxc"]


@pytest.mark.parametrize(
    "command",
    [[], ["build"], ["inspect"], ["targets"], ["report"], ["ops"], ["plan"], ["profile"]]
    + [["serve"], ["export-remote"]],
)
def test_help_examples_parse(command, capsys, monkeypatch):
    examples = _examples(_help(command, capsys))
    assert examples
    if command:
        assert any(words[0] == command[0] for words in examples)
    monkeypatch.chdir(ROOT)  # the examples' files are the repository's
    for words in examples:
        args = _parser().parse_args(words)
        assert args.command == words[0]
    if not command:  # the common flows
        assert {words[0] for words in examples} >= {"targets", "inspect", "build", "run"}
