"""A bundle whose middle runs on a remote server, against a fake KServe v2 server that
answers correctly or with one fault at a time: every fault is answered by the local
fallback with onnxruntime's output, and counted with its cause. The bundle's driver and
runtime (the HTTP client included) are built with AddressSanitizer and UBSan.

The fake server computes the partition with onnxruntime on the bundle's own ONNX; runs
against Triton (`deepxc serve`) are in test_remote_serve.py."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
from kserve_fault_server import FaultServer
from remote_runs import (
    Driver,
    build_remote,
    check_outputs,
    digits_examples,
    partition_compute,
    reference,
)
from triton_numpy_server import free_port

if shutil.which("cc") is None:
    pytest.skip("no C compiler", allow_module_level=True)

TIMEOUT_MS = 1500  # a loaded test machine answers well within it; "slow" waits 2x


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults") / "bundle"
    build_remote(path, remote_timeout_ms=TIMEOUT_MS)
    return path


@pytest.fixture(scope="module")
def driver(bundle, tmp_path_factory):
    return Driver(bundle, tmp_path_factory.mktemp("driver"))


def test_the_servers_answer_is_used(bundle, driver):
    """A server that answers correctly: no fallback; one that answers wrongly (zeros, the
    right shape): wrong outputs, so the bundle really takes the server's tensors."""
    examples = digits_examples(5, seed=1)
    compute = partition_compute(bundle)
    with FaultServer(compute) as server:
        outputs, stats = driver.run(examples, server.url)
        assert server.requests == 5
    check_outputs(outputs, examples)
    assert stats == {"remote_calls": 5, "remote_ok": 5, "fallbacks": 0, "causes": {}}

    def zeros(inputs):
        return {name: np.zeros_like(value) for name, value in compute(inputs).items()}

    with FaultServer(zeros) as server:
        outputs, stats = driver.run(examples, server.url)
    assert stats["remote_ok"] == 5
    assert not np.allclose(outputs, reference(examples), atol=1e-3)


def test_no_server_started(driver):
    examples = digits_examples(3, seed=2)
    outputs, stats = driver.run(examples, f"http://127.0.0.1:{free_port()}")
    check_outputs(outputs, examples)
    assert stats["fallbacks"] == 3 and stats["causes"] == {"refused": 3}


# each fault the issue names, and the cause the client gives it
FAULTS = {
    "slow": "timeout",
    "garbage": "malformed",
    "truncated": "io",  # closed before the body it announced
    "wrong_shape": "mismatch",
    "wrong_datatype": "mismatch",
    "http_500": "http_status",
    "close": "io",
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_is_answered_locally_and_counted(bundle, driver, fault):
    examples = digits_examples(3, seed=3)
    with FaultServer(partition_compute(bundle), delay=TIMEOUT_MS / 1e3 * 2) as server:
        server.fault = fault
        outputs, stats = driver.run(examples, server.url)
    check_outputs(outputs, examples)
    assert stats["remote_ok"] == 0 and stats["fallbacks"] == 3
    causes = {name.replace(" ", "_"): n for name, n in stats["causes"].items()}
    assert causes == {FAULTS[fault]: 3}, stats


def test_a_server_killed_mid_run(bundle, driver):
    """The server goes away after 20 answers (its port closed, every connection reset):
    the other 60 are computed locally, all right."""
    examples = digits_examples(80, seed=4)
    with FaultServer(partition_compute(bundle)) as server:
        watcher = _after(server, 20, server.stop)
        outputs, stats = driver.run(examples, server.url)
        watcher.join()
    check_outputs(outputs, examples)
    assert stats["remote_calls"] == 80 and stats["remote_ok"] >= 19  # the 20th: cut off?
    assert stats["fallbacks"] == 80 - stats["remote_ok"] > 0
    assert set(stats["causes"]) <= {"refused", "io", "timeout"}


def test_1000_inferences_across_two_server_restarts(bundle, driver):
    """1,000 sequential inferences in one process while the server restarts twice: 1,000
    right answers, none lost; the calls after the restarts reach the server again."""
    examples = digits_examples(1000, seed=5)
    with FaultServer(partition_compute(bundle)) as server:
        first = _after(server, 300, server.restart)
        second = _after(server, 650, server.restart)
        outputs, stats = driver.run(examples, server.url, timeout=600)
        first.join()
        second.join()
        served = server.requests
    assert outputs.shape[0] == 1000
    check_outputs(outputs, examples)
    assert stats["remote_calls"] == 1000
    assert stats["remote_ok"] + stats["fallbacks"] == 1000
    assert stats["remote_ok"] >= 900 and served >= stats["remote_ok"]


def _after(server: FaultServer, requests: int, action) -> threading.Thread:
    """Run `action` once the server has read `requests` inference requests."""

    def wait() -> None:
        while server.requests < requests:
            threading.Event().wait(0.001)
        action()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread
