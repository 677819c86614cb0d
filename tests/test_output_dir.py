"""The bundle directory: built beside -o and swapped in whole, so a failed build changes
nothing, a rebuild leaves no stale file, writes never follow a symlink planted in the old
bundle, and files deepxc did not write are refused, never deleted."""

from __future__ import annotations

import json
import os

import pytest
from models import make_model, relu_add, tensor
from onnx import helper
from test_cli_errors import assert_one_line_error, run_cli, save

import deepxc.targets
from deepxc.emit import replace_dir

HOST_TOML = os.path.join(os.path.dirname(deepxc.targets.__file__), "host.toml")


@pytest.fixture
def model(tmp_path):
    return save(relu_add(), tmp_path / "m.onnx")


def build(capsys, model, out, *flags):
    code, _, err = run_cli(capsys, "build", model, "-o", out, *flags)
    assert code == 0, err


def snapshot(directory) -> dict[str, bytes]:
    return {
        os.path.relpath(os.path.join(root, name), directory): open(
            os.path.join(root, name), "rb"
        ).read()
        for root, _, names in os.walk(directory)
        for name in names
    }


@pytest.fixture
def break_cc(tmp_path, monkeypatch):
    """Call it to make the host target's C compiler `false`, which always fails."""

    def apply() -> None:
        targets = tmp_path / "targets"
        targets.mkdir()
        text = open(HOST_TOML).read().replace('cc = "cc"', 'cc = "false"')
        assert 'cc = "false"' in text
        (targets / "host.toml").write_text(text)
        monkeypatch.setattr(deepxc.targets, "TARGETS_DIR", targets)

    return apply


def test_failed_build_leaves_nothing_behind(capsys, tmp_path):
    unsupported = make_model(
        [helper.make_node("Hardmax", ["x"], ["y"], name="hm")],
        [tensor("x", [1, 4])],
        [tensor("y", [1, 4])],
    )
    before = sorted(os.listdir(tmp_path))
    assert_one_line_error(
        capsys, ["build", save(unsupported, tmp_path / "u.onnx"), "-o", tmp_path / "out/b"], "hm"
    )
    assert sorted(os.listdir(tmp_path)) == sorted(before + ["u.onnx"])


def test_failed_compile_leaves_nothing_behind(capsys, tmp_path, model, break_cc):
    break_cc()
    before = sorted(os.listdir(tmp_path))
    assert_one_line_error(capsys, ["build", model, "-o", tmp_path / "b"], "false")
    assert sorted(os.listdir(tmp_path)) == before


def test_failed_compile_leaves_the_earlier_bundle_as_it_was(capsys, tmp_path, model, break_cc):
    build(capsys, model, tmp_path / "b")
    earlier = snapshot(tmp_path / "b")
    entries = sorted(os.listdir(tmp_path))
    save(relu_add(seed=1), tmp_path / "m.onnx")  # new weights: a rebuild would change files
    break_cc()
    assert_one_line_error(capsys, ["build", model, "-o", tmp_path / "b"], "false")
    assert snapshot(tmp_path / "b") == earlier
    assert sorted(os.listdir(tmp_path)) == entries + ["targets"]


def test_rebuild_leaves_no_stale_files(capsys, tmp_path, model):
    build(capsys, model, tmp_path / "b", "--embed-weights")
    assert (tmp_path / "b" / "weights.S").exists()
    build(capsys, model, tmp_path / "b")
    assert not (tmp_path / "b" / "weights.S").exists()
    assert not (tmp_path / "b" / "weights.o").exists()
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["files"] == sorted(os.listdir(tmp_path / "b"))


def test_rebuild_does_not_write_through_a_planted_symlink(capsys, tmp_path, model):
    build(capsys, model, tmp_path / "b")
    victim = tmp_path / "victim.c"
    victim.write_text("precious\n")
    (tmp_path / "b" / "model.c").unlink()
    (tmp_path / "b" / "model.c").symlink_to(victim)
    build(capsys, model, tmp_path / "b")
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "b" / "model.c").is_symlink()


def test_user_files_in_a_bundle_are_refused_not_deleted(capsys, tmp_path, model):
    build(capsys, model, tmp_path / "b")
    (tmp_path / "b" / "build").mkdir()
    (tmp_path / "b" / "build" / "CMakeCache.txt").write_text("mine")
    earlier = snapshot(tmp_path / "b")
    assert_one_line_error(
        capsys, ["build", model, "-o", tmp_path / "b"], "'build'", "did not write"
    )
    assert snapshot(tmp_path / "b") == earlier


def test_bundle_from_before_the_file_list(capsys, tmp_path, model):
    """A manifest without "files": the names such a bundle holds are deepxc's."""
    build(capsys, model, tmp_path / "b")
    manifest_path = tmp_path / "b" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["files"]
    manifest_path.write_text(json.dumps(manifest))
    (tmp_path / "b" / "notes.txt").write_text("mine")
    assert_one_line_error(capsys, ["build", model, "-o", tmp_path / "b"], "'notes.txt'")
    (tmp_path / "b" / "notes.txt").unlink()
    build(capsys, model, tmp_path / "b")


def test_output_symlink_is_kept_and_the_bundle_built_at_its_target(capsys, tmp_path, model):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    build(capsys, model, tmp_path / "link")
    build(capsys, model, tmp_path / "link")
    assert (tmp_path / "link").is_symlink()
    assert (tmp_path / "real" / "manifest.json").exists()
    assert sorted(os.listdir(tmp_path)) == ["link", "m.onnx", "real"]


def test_swap_by_two_renames_where_exchange_is_missing(capsys, tmp_path, model, monkeypatch):
    build(capsys, model, tmp_path / "b", "--threads", "2")
    monkeypatch.setattr(replace_dir, "_exchange", lambda first, second: False)
    build(capsys, model, tmp_path / "b", "--threads", "1")
    assert not (tmp_path / "b" / "parallel.c").exists()
    assert sorted(os.listdir(tmp_path)) == ["b", "m.onnx"]


def test_current_directory_is_refused(capsys, tmp_path, model, monkeypatch):
    """Replacing it would leave the shell in a deleted directory."""
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "b")
    assert_one_line_error(capsys, ["build", model, "-o", "."], "current directory")
    assert_one_line_error(capsys, ["build", model, "-o", tmp_path], "current directory")
