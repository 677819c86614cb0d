"""Bundles whose middle runs on a real KServe v2 server: `deepxc serve` (Triton through
PyTriton, on 127.0.0.1) serving the bundle's remote partition, and the bundle's driver
calling it, natively for host and under qemu-arm for tegra-k1; every output against
onnxruntime. And `deepxc plan --network measured` measuring the way to that server."""

from __future__ import annotations

import filecmp
import json
import shutil

import pytest
from remote_runs import Driver, build_remote, check_outputs, digits_examples
from serve_process import Server

from deepxc.cli.main import main

pytest.importorskip("pytriton", reason="deepxc serve needs nvidia-pytriton")
DIGITS = "examples/digits/model.onnx"
# Triton's first requests on a loaded test machine may take seconds; the tests here are
# about the server's answers, not about the fallback
TIMEOUT_MS = 20000


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A host bundle with its middle remote (no server named at build), and its server."""
    work = tmp_path_factory.mktemp("served")
    bundle = work / "bundle"
    build_remote(bundle, remote_timeout_ms=TIMEOUT_MS)
    server = Server(str(bundle), str(work), str(work / "cache"))
    try:
        Driver(bundle, work, sanitized=False).run(digits_examples(1), server.http_url)  # warm
        yield bundle, server
    finally:
        server.stop()


def test_a_host_bundle_gets_its_middle_from_the_server(served, tmp_path):
    bundle, server = served
    examples = digits_examples(20, seed=11)
    outputs, stats = Driver(bundle, tmp_path, sanitized=False).run(examples, server.http_url)
    check_outputs(outputs, examples)
    assert stats == {"remote_calls": 20, "remote_ok": 20, "fallbacks": 0, "causes": {}}


def test_the_server_named_at_build_is_called_without_deepx_remote(served, tmp_path):
    _, server = served
    bundle = tmp_path / "named"
    build_remote(bundle, remote=server.http_url, remote_timeout_ms=TIMEOUT_MS)
    examples = digits_examples(3, seed=12)
    outputs, stats = Driver(bundle, tmp_path, sanitized=False).run(examples, None)
    check_outputs(outputs, examples)
    assert stats["remote_ok"] == 3


@pytest.mark.skipif(shutil.which("qemu-arm") is None, reason="qemu-user is not installed")
def test_tegra_k1_under_qemu_talks_to_the_hosts_server(served, tmp_path):
    """The remote partition does not depend on the device: the K1 bundle's is the host
    bundle's, so the same server answers it."""
    host_bundle, server = served
    bundle = tmp_path / "k1"
    manifest = build_remote(bundle, target="tegra-k1", remote_timeout_ms=TIMEOUT_MS)
    (part,) = manifest["remote"]["partitions"]
    assert filecmp.cmp(bundle / part["onnx"], host_bundle / part["onnx"], shallow=False)
    examples = digits_examples(5, seed=13)
    outputs, stats = Driver(bundle, tmp_path, sanitized=False).run(examples, server.http_url)
    check_outputs(outputs, examples)
    assert stats == {"remote_calls": 5, "remote_ok": 5, "fallbacks": 0, "causes": {}}


def test_plan_measures_the_network_to_the_server(served, capsys):
    _, server = served
    argv = ["plan", DIGITS, "--target", "snapdragon-400", "--network", "measured"]
    assert main([*argv, "--remote", server.http_url, "--json"]) == 0
    captured = capsys.readouterr()
    plan = json.loads(captured.out)
    assert plan["network"] == "measured"
    assert f"network to {server.http_url}: round trip" in captured.err
    assert "remote" in plan["predicted"]["memory_bytes"]


def test_network_measured_needs_a_server(capsys):
    assert main(["plan", DIGITS, "--network", "measured"]) == 1
    assert "--network measured: name the running server with --remote URL" in (
        capsys.readouterr().err
    )
