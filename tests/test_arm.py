"""ARM targets: cross-compiled bundles run under qemu-user and match onnxruntime; the
kernels use NEON; threads do not change results; the firmware example works."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from support import check_model, quiet, random_inputs, reference_outputs
from zoo import realistic_model

from deepxc.pipeline import build_model
from deepxc.runner import run_bundle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARM_TARGETS = ["tegra-k1", "snapdragon-400", "aarch64"]
SMALL = ["squeezenet", "shufflenet", "inception_v1", "inception_v2", "densenet121"]
BIG = ["bvlc_alexnet", "resnet50", "zfnet512", "vgg19"]
TINY_CNN = os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx")

needs_arm_tools = pytest.mark.skipif(
    not all(
        shutil.which(t)
        for t in ("arm-linux-gnueabihf-gcc", "aarch64-linux-gnu-gcc", "qemu-arm", "qemu-aarch64")
    ),
    reason="ARM cross compilers and qemu-user are not installed (.ci/run installs them)",
)
pytestmark = needs_arm_tools


@pytest.mark.slow
@pytest.mark.parametrize("target", ARM_TARGETS)
@pytest.mark.parametrize("name", SMALL)
def test_zoo_model_under_qemu(name, target, tmp_path):
    check_model(realistic_model(name), tmp_path / "bundle", target=target)


@pytest.mark.slow
@pytest.mark.parametrize("name", BIG)
def test_big_zoo_model_under_qemu(name, tmp_path):
    # The biggest models run on one ARM target only, to keep CI well under its budget.
    check_model(realistic_model(name), tmp_path / "bundle", target="aarch64")


@pytest.mark.parametrize("target", ARM_TARGETS)
def test_tiny_cnn_under_qemu(target, tmp_path):
    check_model(onnx.load(TINY_CNN), tmp_path / "bundle", target=target)


NEON_FLOAT_OPS = {
    "arm": re.compile(r"\bv(mla|fma|mul)\.f32\s+q\d+"),
    "aarch64": re.compile(r"\bf(mla|mul)\s+v\d+\.4s"),
}


def _vector_float_ops(listing: str, family: str) -> dict[str, int]:
    """NEON float multiplies per function of an objdump -d listing."""
    counts: dict[str, int] = {}
    function = ""
    for line in listing.splitlines():
        header = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if header:
            function = header.group(1)
        elif NEON_FLOAT_OPS[family].search(line):
            counts[function] = counts.get(function, 0) + 1
    return counts


@pytest.mark.parametrize("target", ARM_TARGETS)
def test_kernels_use_neon(target, tmp_path):
    """The schedule rules' register tiles become NEON code: the convolution kernels hold a
    tile of quad-register multiply-adds, the dense kernel at least a few."""
    manifest = build_model(onnx.load(TINY_CNN), target, str(tmp_path), log=quiet)
    objdump = manifest["toolchain"]["cc"].replace("-gcc", "-objdump")
    listing = subprocess.run(
        [objdump, "-d", str(tmp_path / "kernels_cpu.o")], capture_output=True, text=True, check=True
    ).stdout
    counts = _vector_float_ops(listing, "aarch64" if target == "aarch64" else "arm")
    conv = [n for n in counts if "conv2d" in n]
    dense = [n for n in counts if "dense" in n]
    assert len(conv) >= 2, f"no NEON float multiply in {target} convolution kernels: {counts}"
    assert all(counts[n] >= 8 for n in conv), counts
    assert dense and max(counts[n] for n in dense) >= 2, counts


@pytest.mark.parametrize("target", ["tegra-k1", "aarch64", "host"])
def test_threads_give_the_same_outputs(target, tmp_path):
    model = realistic_model("squeezenet")
    inputs = random_inputs(model)
    outputs = {}
    for threads in (1, 4):
        bundle = tmp_path / f"t{threads}"
        manifest = build_model(model, target, str(bundle), log=quiet, threads=threads)
        assert manifest["threads"] == threads
        assert ("pthread_create" in (bundle / "model.c").read_text()) == (threads > 1)
        outputs[threads], _ = run_bundle(str(bundle), inputs)
    for name, value in outputs[1].items():
        np.testing.assert_array_equal(outputs[4][name], value)
    reference = reference_outputs(model, inputs)
    for name, value in reference.items():
        scale = float(np.abs(value).max())
        assert float(np.abs(outputs[4][name] - value).max()) <= 1e-4 * scale


def test_single_thread_bundle_links_without_pthreads(tmp_path):
    build_model(onnx.load(TINY_CNN), "aarch64", str(tmp_path), log=quiet, threads=1)
    symbols = subprocess.run(
        ["aarch64-linux-gnu-nm", str(tmp_path / "libmodel.a")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "pthread" not in symbols


def test_firmware_example(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "examples", "firmware"))
    import build as firmware

    bundle = str(tmp_path / "bundle")
    manifest = firmware.make_bundle("snapdragon-400", bundle)
    assert manifest["weights_embedded"]
    image, expected = firmware.reference(manifest)
    firmware.write_headers(str(tmp_path), image, expected)
    assert firmware.compile_and_run(manifest, bundle, str(tmp_path)) == 0
    # the check can fail: a wrong expectation gives the mismatch status
    firmware.write_headers(str(tmp_path), image, expected * 1.01)
    assert firmware.compile_and_run(manifest, bundle, str(tmp_path)) == 1


def test_two_model_firmware(tmp_path):
    """Two bundles built with --name link into one static program and both run right."""
    sys.path.insert(0, os.path.join(ROOT, "examples", "firmware"))
    import two_models

    out = str(tmp_path)
    manifests = [
        two_models.make_bundle("snapdragon-400", os.path.join(out, name), model, threads, name)
        for name, (model, threads) in two_models.MODELS.items()
    ]
    assert [m["name"] for m in manifests] == ["cnn", "spk"]
    inputs = two_models.examples()
    expected = two_models.reference(inputs)
    two_models.write_examples(out, inputs, expected)
    assert two_models.compile_and_run(manifests[0], out) == 0
    # the check can fail: a wrong expectation for the second model gives its status
    two_models.write_examples(out, inputs, {**expected, "spk": expected["spk"] * 1.01})
    assert two_models.compile_and_run(manifests[0], out) == 2


# What model.c must be able to write: the fork counter and once-flag of the thread pool.
WRITABLE = {"dx_fork_epoch", "dx_atfork_once"}


def _data_objects(obj: str, objdump: str) -> dict[str, str]:
    """Data symbol -> section, from `objdump -t`."""
    table = subprocess.run([objdump, "-t", obj], capture_output=True, text=True, check=True)
    sections = {}
    for line in table.stdout.splitlines():
        match = re.match(r"^[0-9a-f]+ (.{7}) (\S+)\s+[0-9a-f]+ (\S+)$", line)
        if match and "O" in match.group(1):
            sections[match.group(3)] = match.group(2)
    return sections


def _section_bytes(obj: str, size: str, name: str) -> int:
    listing = subprocess.run([size, "-A", obj], capture_output=True, text=True, check=True)
    rows = [line.split() for line in listing.stdout.splitlines()]
    return sum(int(row[1]) for row in rows if row and row[0] == name)


def test_static_tables_are_read_only(tmp_path):
    """Every table model.c never writes (the kernels' shape arrays, the level and profile
    tables, the weights magic, the backend pointers the kernels read) is const: read-only
    data, which firmware keeps in flash. Built as deepxc builds it (position-independent by
    the Debian compiler's default), the pointer tables may sit in .data.rel.ro, read-only
    once relocated; built as firmware is (-fno-pie), all of them are .rodata."""
    bundle = tmp_path / "bundle"
    manifest = build_model(
        onnx.load(TINY_CNN), "tegra-k1", str(bundle), log=quiet, threads=4, profile=True
    )
    toolchain = manifest["toolchain"]
    tool = toolchain["cc"].replace("-gcc", "-")
    firmware = str(tmp_path / "model_firmware.o")
    command = [toolchain["cc"], *toolchain["cflags"], "-fno-pie", "-c", "model.c", "-o", firmware]
    subprocess.run(command, cwd=bundle, check=True)
    tables = {"dx_levels", "dx_profile_calls"} | {
        f"deepx_tvm_{role}"
        for role in ("alloc_workspace", "free_workspace", "parallel_launch", "parallel_barrier")
    }
    arity = {call["kernel"]: len(call["args"]) for call in manifest["kernel_calls"]}
    shapes = sum(arity.values())  # one shape array per tensor argument of a kernel
    for obj, read_only in [
        (str(bundle / "model.o"), (".rodata", ".data.rel.ro", ".data.rel.ro.local")),
        (firmware, (".rodata",)),
    ]:
        sections = _data_objects(obj, tool + "objdump")
        found = {name for name in sections if re.fullmatch(r"s\d+\.\d+|magic\.\d+", name)}
        assert len(found) == shapes + 1
        for name in sorted(tables | found):
            assert sections[name] in read_only, (obj, name, sections[name])
        writable = {name for name, section in sections.items() if section in (".data", ".bss")}
        assert writable == WRITABLE, obj
        assert _section_bytes(obj, tool + "size", ".data") == 0, obj


def test_run_marks_emulated_times_and_reports_progress(tmp_path, capsys, monkeypatch):
    """Under qemu-arm: `run --bench` says its median is emulated and reports the timed
    runs as they go; `run --dataset` runs every example in the emulator in one process,
    reports them as they go, and its outputs match onnxruntime."""
    import deepxc.runner
    from deepxc.cli.main import main

    monkeypatch.setattr(deepxc.runner, "PROGRESS_SECONDS", 0.0)  # a line after every run
    model = onnx.load(TINY_CNN)
    bundle = str(tmp_path / "bundle")
    assert main(["build", TINY_CNN, "--target", "tegra-k1", "--threads", "1", "-o", bundle]) == 0
    capsys.readouterr()
    assert main(["run", bundle, "--bench", "4"]) == 0
    captured = capsys.readouterr()
    assert re.search(r"^median_ms=[\d.]+ \(emulated under qemu-arm\)$", captured.out, re.M)
    assert re.findall(r"bench: (\d+)/4 runs", captured.err) == ["1", "2", "3", "4"]

    (name, shape), *_ = random_inputs(model).items()
    examples = np.random.default_rng(6).standard_normal((7, *shape.shape)).astype(np.float32)
    np.savez(tmp_path / "data.npz", **{name: examples})
    out = str(tmp_path / "out.npy")
    assert main(["run", bundle, "--dataset", str(tmp_path / "data.npz"), "-o", out]) == 0
    captured = capsys.readouterr()
    assert re.findall(r"level 0: (\d+)/7 examples", captured.err) == [str(i) for i in range(1, 8)]
    assert re.search(r"^7 runs in .* \(emulated under qemu-arm\)$", captured.out, re.M)
    expected = np.concatenate(
        [next(iter(reference_outputs(model, {name: example}).values())) for example in examples]
    )
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-4, atol=1e-5)
