"""The device's KServe v2 client (templates remote_api.h.j2 and remote_client.c.j2) compiled
on its own under AddressSanitizer and UBSan, against a real Triton (nvidia-pytriton) serving
a numpy function and against a fake server that answers with each fault a network or a
server can make. Outputs are held against numpy, bit for bit; every byte of the arena
outside the outputs is checked after every call."""

from __future__ import annotations

import importlib.util
import shutil
import statistics
import subprocess
import threading
import time

import numpy as np
import pytest
import triton_numpy_server
from kserve_fault_server import FaultServer
from remote_client_driver import CAUSES, Driver, Partition, Tensor, build_driver, render_client

PARTITION = Partition(
    model="numpy_model",
    version="1",
    inputs=[Tensor("input0", "FP32", (1, 4, 5, 5)), Tensor("input1", "FP32", (1, 3))],
    outputs=[Tensor("output0", "FP32", (1, 4, 5, 5)), Tensor("output1", "FP32", (1, 3))],
)
RNG = np.random.default_rng(7)
INPUTS = {t.name: RNG.standard_normal(t.shape).astype(np.float32) for t in PARTITION.inputs}


def double_and_reverse(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The served function: output0 = 2 * input0 + 1, output1 = input1 reversed."""
    return {
        "output0": (2 * inputs["input0"] + 1).astype(np.float32),
        "output1": np.ascontiguousarray(inputs["input1"][:, ::-1]),
    }


EXPECTED = double_and_reverse(INPUTS)
FAULT_CAUSES = {
    "slow": "timeout",
    "garbage": "malformed",
    "truncated": "io",
    "wrong_shape": "mismatch",
    "wrong_datatype": "mismatch",
    "missing_output": "mismatch",
    "oversized": "mismatch",
    "http_500": "http status",
    "close": "io",
    "json_only": "malformed",
    "lying_length": "short",
    "chunked": "malformed",
    "deep_nesting": "malformed",
    "reordered": "ok",
    "unknown_keys": "ok",
}


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    return build_driver(tmp_path_factory.mktemp("remote_client"))


@pytest.fixture
def driver(program, tmp_path):
    with Driver(program, PARTITION, INPUTS, tmp_path) as running:
        yield running


class TritonHolder:
    """The module's Triton; a test may kill it and start a fresh one on the same port."""

    def __init__(self) -> None:
        self.port = triton_numpy_server.free_port()
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        specs = [(t.name, t.dtype, t.shape) for t in PARTITION.inputs]
        outputs = [(t.name, t.dtype, t.shape) for t in PARTITION.outputs]
        self.process = triton_numpy_server.start(double_and_reverse, specs, outputs, self.port)


@pytest.fixture(scope="module")
def triton():
    if importlib.util.find_spec("pytriton") is None:
        pytest.skip("nvidia-pytriton not installed: pip install nvidia-pytriton (the serve extra)")
    holder = TritonHolder()
    holder.start()
    yield holder
    triton_numpy_server.stop(holder.process)


def assert_exact(result) -> None:
    assert result.cause == CAUSES["ok"], result.cause
    assert result.guards_ok
    for name, value in EXPECTED.items():
        assert result.outputs[name].tobytes() == value.tobytes(), name


def test_triton_50_calls_on_one_connection(triton, driver):
    driver.command("counting")
    assert driver.configure(triton.url, 5000) == 0
    for _ in range(50):
        assert_exact(driver.infer())
    stats = driver.stats()
    assert (stats["calls"], stats["ok"], stats["fallbacks"]) == (50, 50, 0)
    assert stats["connects"] == 1  # keep-alive: one connection for all 50


def test_triton_overhead_keep_alive_and_reconnect(triton, driver):
    """Median time per call, kept-alive against a new connection per call (printed with -s)."""
    driver.command("counting")
    driver.configure(triton.url, 5000)
    times = {"keep-alive": [], "reconnect": []}
    for _ in range(20):
        for mode in times:
            if mode == "reconnect":
                driver.command("close")
            result = driver.infer()
            assert_exact(result)
            times[mode].append(result.micros / 1000)
    assert driver.stats()["connects"] == 21  # the first call and each reconnect
    print({mode: f"{statistics.median(ms):.2f} ms" for mode, ms in times.items()})


def test_no_server_and_refused(driver):
    assert driver.configure(None) == 0
    assert driver.infer().cause == CAUSES["no server"]
    assert driver.configure(f"http://127.0.0.1:{triton_numpy_server.free_port()}") == 0
    result = driver.infer()
    assert result.cause == CAUSES["refused"] and result.guards_ok
    stats = driver.stats()
    assert (stats["calls"], stats["ok"], stats["fallbacks"]) == (2, 0, 2)
    assert stats["causes"][CAUSES["no server"]] == 1 and stats["causes"][CAUSES["refused"]] == 1


@pytest.mark.parametrize("fault", sorted(FAULT_CAUSES))
def test_fault(fault, driver):
    """Each fault gives its cause, touches nothing outside the outputs, and the next
    correct reply is taken again."""
    # a deadline a loaded test machine meets with ease; "slow" answers well after it
    with FaultServer(double_and_reverse, delay=4.0) as server:
        assert driver.configure(server.url, 1500) == 0
        assert_exact(driver.infer())  # a kept-alive connection meets the fault
        server.fault = fault
        result = driver.infer()
        assert result.cause == CAUSES[FAULT_CAUSES[fault]], (fault, result.cause)
        assert result.guards_ok
        if fault == "slow":
            assert result.micros < 3_900_000  # the deadline, not the server, ended the call
        if fault == "reordered" or fault == "unknown_keys":
            assert_exact(result)
        server.fault = None
        assert_exact(driver.infer())
        assert server.paths[0] == "/v2/models/numpy_model/versions/1/infer"
    stats = driver.stats()
    failed = FAULT_CAUSES[fault] != "ok"
    assert (stats["calls"], stats["fallbacks"]) == (3, int(failed))
    assert sum(stats["causes"]) == int(failed)


def test_host_name(driver):
    """A host name is resolved (getaddrinfo), each of its addresses tried in turn."""
    with FaultServer(double_and_reverse) as server:
        assert driver.configure(f"http://localhost:{server.port}/") == 0
        assert_exact(driver.infer())


def test_randomly_edited_replies(driver):
    """300 replies, each with one random edit in its headers or JSON header: whatever the
    cause, nothing outside the outputs is touched and no sanitizer reports; an OK is exact."""
    causes = set()
    with FaultServer(double_and_reverse) as server:
        driver.configure(server.url, 200)
        server.fault = "mutated"
        for _ in range(300):
            result = driver.infer()
            assert result.guards_ok
            if result.cause == CAUSES["ok"]:
                assert_exact(result)
            causes.add(result.cause)
        server.fault = None
        assert_exact(driver.infer())
    assert {CAUSES["malformed"], CAUSES["mismatch"], CAUSES["io"]} <= causes, causes


def test_restart_between_calls_costs_no_fallback(driver):
    """A server restarted since the last call has dropped the kept-alive connection: the
    request goes again on a new one instead of falling back."""
    driver.command("counting")
    with FaultServer(double_and_reverse) as server:
        driver.configure(server.url)
        assert_exact(driver.infer())
        server.restart()
        assert_exact(driver.infer())
        assert server.requests == 2
    assert driver.stats()["connects"] == 2


def test_200_calls_across_two_restarts(driver):
    """Restarts while calls go on: every call is correct or a counted cause, and the calls
    after the last restart are all correct."""
    with FaultServer(double_and_reverse) as server:
        driver.configure(server.url, 1000)
        restarts: list[threading.Thread] = []
        results, after = [], []
        for call in range(200):
            if call in (50, 120):  # the first restart is over before the second begins
                for thread in restarts:
                    thread.join()
                restarts.append(threading.Thread(target=server.restart))
                restarts[-1].start()
            done = call > 120 and not restarts[-1].is_alive()
            (after if done else results).append(driver.infer())
            time.sleep(0.002)  # calls spread over the restarts
        restarts[-1].join()
        assert len(after) > 10, "the restarts outlasted the calls"
    failures = [r.cause for r in results + after if r.cause != CAUSES["ok"]]
    assert set(failures) <= {CAUSES["io"], CAUSES["refused"], CAUSES["timeout"]}
    for result in results + after:
        assert result.guards_ok
        if result.cause == CAUSES["ok"]:
            assert_exact(result)
    for result in after:
        assert_exact(result)
    stats = driver.stats()
    assert (stats["calls"], stats["fallbacks"]) == (200, len(failures))
    assert sum(stats["causes"]) == len(failures)


def test_triton_killed_then_back(triton, driver):
    """SIGKILL Triton between calls: a cause, then a fresh server on the same port serves."""
    driver.configure(triton.url, 5000)
    assert_exact(driver.infer())
    triton_numpy_server.kill(triton.process)
    result = driver.infer()
    assert result.cause in (CAUSES["refused"], CAUSES["io"]) and result.guards_ok
    triton.start()
    assert_exact(driver.infer())


@pytest.mark.parametrize(
    "url, valid",
    [
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000/", True),
        ("http://example.com", True),
        ("http://[::1]:8000", True),
        ("https://127.0.0.1:8000", False),
        ("http://127.0.0.1:0", False),
        ("http://127.0.0.1:65536", False),
        ("http://127.0.0.1:", False),
        ("http://:8000", False),
        ("http://127.0.0.1:8000/v2", False),
        ("http://user@host:8000", False),
        ("127.0.0.1:8000", False),
    ],
)
def test_url(url, valid, driver):
    assert (driver.configure(url) == 0) == valid
    if not valid:  # a bad URL leaves no server
        assert driver.infer().cause == CAUSES["no server"]


def test_cause_names(driver):
    names = [driver.command(f"cause {k}")[1:] for k in range(-1, len(CAUSES) + 1)]
    assert [" ".join(n) for n in names] == ["unknown", *CAUSES, "unknown"]


@pytest.mark.skipif(shutil.which("arm-linux-gnueabihf-gcc") is None, reason="no ARM compiler")
def test_compiles_for_32bit_arm(tmp_path):
    """size_t and long are 32 bits there: the client must compile warning-free."""
    build_driver(tmp_path, cc="arm-linux-gnueabihf-gcc", flags=("-c",))


def test_names_follow_the_api_prefix(tmp_path):
    """Every external name of the client carries the bundle's prefix (--name)."""
    render_client(tmp_path, api="kws", macro="KWS")
    text = (tmp_path / "remote_api.h").read_text() + (tmp_path / "remote_client.c").read_text()
    assert "deepx" not in text.lower()
    source = tmp_path / "remote_client.c"
    source.write_text(
        "#define _POSIX_C_SOURCE 200809L\n#include <stdint.h>\n#include <string.h>\n"
        '#include "remote_api.h"\n' + source.read_text()
    )
    subprocess.run(
        [
            "cc",
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Wno-unused-function",
            "-c",
            str(source),
            "-o",
            str(tmp_path / "client.o"),
        ],
        check=True,
    )
    symbols = subprocess.run(
        ["nm", "-g", "--defined-only", str(tmp_path / "client.o")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert symbols[-1] == "kws_remote_cause" and len(symbols) == 3
