"""The test driver's .npy reader and writer (main.c) on long headers and hostile files,
under AddressSanitizer and UBSan: natively, and as 32-bit ARM code under qemu-user where a
length that wraps around size_t would read past the buffer."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from harness import SANITIZER_EXIT, build_sanitized
from models import make_model, tensor
from onnx import helper
from support import quiet

from deepxc.pipeline import build_model

HIGH_RANK = [1] * 60 + [10, 10, 10, 10]  # numpy 2's most dimensions; a 250-character header


@pytest.fixture(scope="module", params=["host", "tegra-k1"])
def driver(request, tmp_path_factory):
    """A Relu bundle of rank 64 and its ASan+UBSan driver: (command, environment, dir)."""
    directory = tmp_path_factory.mktemp(f"npy_{request.param}")
    model = make_model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")],
        [tensor("x", HIGH_RANK)],
        [tensor("y", HIGH_RANK)],
    )
    build_model(model, request.param, str(directory / "bundle"), log=quiet, threads=1)
    command, env = build_sanitized(directory / "bundle", "address,undefined", directory / "asan")
    return command, env, directory


def _run(driver, *args):
    import subprocess

    command, env, directory = driver
    weights = str(directory / "bundle" / "weights.bin")
    import os

    return subprocess.run(
        [*command, "-w", weights, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_high_rank_round_trip(driver, tmp_path):
    """A header longer than the writer's old 256-byte buffer (and the reader's shape
    string) reads and writes whole. Written and read as bytes: numpy 1 makes arrays of
    at most 32 dimensions."""
    x = np.random.default_rng(0).standard_normal(10**4).astype(np.float32)
    (tmp_path / "x.npy").write_bytes(_npy(1, _good_header(), data=x.tobytes()))
    result = _run(driver, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "y.npy").read_bytes()
    header_len = struct.unpack("<H", written[8:10])[0]
    header = written[10 : 10 + header_len].decode()
    assert "'shape': (" + "1, " * 60 + "10, 10, 10, 10)" in header
    assert (10 + header_len) % 16 == 0  # the data aligned, as numpy writes it
    y = np.frombuffer(written[10 + header_len :], dtype="<f4")
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def _npy(version: int, header: bytes, header_len: int | None = None, data: bytes = b"") -> bytes:
    length = len(header) if header_len is None else header_len
    size = struct.pack("<H", length) if version == 1 else struct.pack("<I", length)
    return b"\x93NUMPY" + bytes([version, 0]) + size + header + data


def _good_header(shape=HIGH_RANK, descr="<f4", order="False") -> bytes:
    dims = ", ".join(str(d) for d in shape)
    return f"{{'descr': '{descr}', 'fortran_order': {order}, 'shape': ({dims}), }}\n".encode()


PAYLOAD = bytes(4 * 10**4)
HOSTILE = {
    "empty": b"",
    "short": b"\x93NUM",
    "bad-magic": b"\x93NUMPX\x01\x00\x10\x00" + b" " * 16,
    "unknown-version": _npy(9, _good_header(), data=PAYLOAD),
    "v1-header-past-end": _npy(1, b"{'descr'", header_len=0xFFFF),
    # 12 + 0xFFFFFFF8 wraps to 4 in a 32-bit size_t
    "v2-header-wraps": _npy(2, b"\x00" * 8, header_len=0xFFFFFFF8),
    "v3-header-past-end": _npy(3, b"{}", header_len=0x7FFFFFFF),
    "no-shape": _npy(1, b"{'descr': '<f4', 'fortran_order': False, }\n", data=PAYLOAD),
    "wrong-shape": _npy(1, _good_header([6]), data=PAYLOAD),
    "more-dimensions": _npy(1, _good_header(HIGH_RANK + [1]), data=PAYLOAD),
    "float64": _npy(1, _good_header(descr="<f8"), data=PAYLOAD * 2),
    "fortran": _npy(1, _good_header(order="True"), data=PAYLOAD),
    "data-short": _npy(1, _good_header(), data=PAYLOAD[:-4]),
    "data-long": _npy(1, _good_header(), data=PAYLOAD + bytes(4)),
    "unterminated-shape": _npy(1, b"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_files_are_refused(driver, tmp_path, case):
    path = tmp_path / f"{case}.npy"
    path.write_bytes(HOSTILE[case])
    result = _run(driver, "-i", path)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert result.returncode != SANITIZER_EXIT
    assert "error:" in result.stderr and "Sanitizer" not in result.stderr


def test_stacked_examples_round_trip(driver, tmp_path):
    """--examples N: N inputs stacked on a new first axis in, N outputs stacked out (65
    dimensions: more than numpy makes, so the files are written and read as bytes)."""
    x = np.random.default_rng(1).standard_normal(3 * 10**4).astype(np.float32)
    (tmp_path / "x.npy").write_bytes(_npy(1, _good_header([3, *HIGH_RANK]), data=x.tobytes()))
    result = _run(driver, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy", "--examples", 3)
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "y.npy").read_bytes()
    header_len = struct.unpack("<H", written[8:10])[0]
    header = written[10 : 10 + header_len].decode()
    assert "'shape': (3, " + "1, " * 60 + "10, 10, 10, 10)" in header
    y = np.frombuffer(written[10 + header_len :], dtype="<f4")
    np.testing.assert_array_equal(y, np.maximum(x, 0))


STACKED = {
    "one-example-given-for-two": (2, _npy(1, _good_header([1, *HIGH_RANK]), data=PAYLOAD)),
    "no-examples-axis": (1, _npy(1, _good_header(), data=PAYLOAD)),
    "stack-data-short": (2, _npy(1, _good_header([2, *HIGH_RANK]), data=PAYLOAD)),
    # 2^30 examples of 40,000 bytes: more than a 32-bit size_t counts
    "stack-size-wraps": (2**30, _npy(1, _good_header([2**30, *HIGH_RANK]), data=PAYLOAD)),
}


@pytest.mark.parametrize("case", sorted(STACKED))
def test_hostile_stacked_inputs_are_refused(driver, tmp_path, case):
    examples, data = STACKED[case]
    path = tmp_path / f"{case}.npy"
    path.write_bytes(data)
    result = _run(driver, "-i", path, "--examples", examples)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "error:" in result.stderr and "Sanitizer" not in result.stderr
