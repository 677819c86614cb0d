"""The generated C runtime: checksum at init, no malloc/stdio in the core, strict warnings."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from models import relu_add
from support import assert_close, quiet, reference_outputs

from deepxc.errors import RunError, ToolchainError
from deepxc.pipeline import build_model
from deepxc.runner import run_bundle

# What the core and the kernels may take from libc/libm: no allocation, no I/O.
ALLOWED_UNDEFINED = {"memcpy", "memset", "memmove", "memcmp"}
LINKER_PROVIDED = {"_GLOBAL_OFFSET_TABLE_"}  # thread-local data in position-independent code
LIBM = re.compile(r"^(exp|log|pow|sqrt|tanh|sin|cos|erf|floor|ceil|round|fabs|fmax|fmin)f?$")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bundle")
    # one thread: the core runtime alone (a host build's default is the machine's cores,
    # and the thread pool brings pthreads)
    build_model(relu_add((2, 8)), "host", str(directory), log=quiet, threads=1)
    return directory


def test_bundle_matches_onnxruntime(bundle):
    x = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    outputs, _ = run_bundle(str(bundle), {"x": x})
    assert_close(outputs, reference_outputs(relu_add((2, 8)), {"x": x}))


def test_corrupt_weights_are_refused(bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    blob = bytearray((copy / "weights.bin").read_bytes())
    blob[70] ^= 0x01  # one bit of the first weight
    (copy / "weights.bin").write_bytes(bytes(blob))
    with pytest.raises(RunError, match="weights"):
        run_bundle(str(copy), {"x": np.zeros((2, 8), np.float32)})


def _corrupted_copy(bundle, tmp_path, edit) -> str:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    blob = bytearray((copy / "weights.bin").read_bytes())
    edit(blob)
    (copy / "weights.bin").write_bytes(bytes(blob))
    return str(copy)


def _flip_pair(blob: bytearray, first: int, second: int, bit: int) -> None:
    blob[first] ^= 1 << bit
    blob[second] ^= 1 << bit


def _swap_words(blob: bytearray, first: int, second: int) -> None:
    blob[first : first + 8], blob[second : second + 8] = (
        blob[second : second + 8],
        blob[first : first + 8],
    )


@pytest.mark.parametrize(
    "edit",
    [
        # the same bit flipped in two words of one 512-byte block cancelled out when each
        # block was XOR-folded before hashing
        lambda blob: _flip_pair(blob, 64 + 0, 64 + 8, 3),
        lambda blob: _flip_pair(blob, 64 + 5, 64 + 5 + 8 * 17, 7),
        lambda blob: _swap_words(blob, 64, 72),
        lambda blob: _swap_words(blob, 64 + 8, 64 + 8 * 40),
    ],
    ids=["bit-pair", "bit-pair-apart", "swapped-words", "swapped-words-apart"],
)
def test_paired_corruptions_are_refused(tmp_path, edit):
    # weights of 1 KB, so that the edits land inside the payload
    model = relu_add((16, 16))
    bundle = tmp_path / "bundle"
    build_model(model, "host", str(bundle), log=quiet)
    copy = _corrupted_copy(bundle, tmp_path, edit)
    assert (tmp_path / "copy" / "weights.bin").read_bytes() != (bundle / "weights.bin").read_bytes()
    with pytest.raises(RunError, match="weights"):
        run_bundle(copy, {"x": np.zeros((16, 16), np.float32)})


def test_runtime_and_python_checksums_are_one_function(bundle, tmp_path):
    """The runtime's dx_checksum and deepxc.emit.weights.checksum agree on every length
    (each tail path) and alignment, against the xxhash library's XXH64 too."""
    import xxhash
    from harness import compile_program, run_program

    from deepxc.emit.weights import checksum

    program = compile_program(bundle, "checksum.c", tmp_path / "checksum", library="kernels_cpu.o")
    longest = 100
    data = np.random.default_rng(5).integers(0, 256, longest + 8, dtype=np.uint8).tobytes()
    (tmp_path / "data.bin").write_bytes(data)
    result = run_program(bundle, program, tmp_path / "data.bin", longest)
    assert result.returncode == 0, result.stderr
    printed = [int(line, 16) for line in result.stdout.split()]
    expected = [
        checksum(data[offset : offset + length])
        for offset in range(8)
        for length in range(longest + 1)
    ]
    assert printed == expected
    assert expected[-1] == xxhash.xxh64_intdigest(data[7 : 7 + longest])


def symbols(path, *flags) -> set[str]:
    result = subprocess.run(["nm", *flags, str(path)], capture_output=True, text=True, check=True)
    return {line.split()[-1] for line in result.stdout.splitlines() if line.strip()}


def test_core_runtime_uses_no_malloc_or_stdio(bundle):
    objects = [bundle / "model.o", bundle / "kernels_cpu.o"]
    undefined = set().union(*(symbols(o, "-u") for o in objects))
    defined = set().union(*(symbols(o, "--defined-only") for o in objects))
    external = undefined - defined
    allowed = ALLOWED_UNDEFINED | LINKER_PROVIDED
    unexpected = {s for s in external if s not in allowed and not LIBM.match(s)}
    assert not unexpected, unexpected
    assert any(s.startswith("__tvm_ffi_") for s in undefined)  # nm sees real imports


def test_warnings_are_on_but_not_errors_for_users(bundle):
    """The Makefile turns warnings on and leaves -Werror to its user (`make
    CFLAGS_EXTRA=-Werror`, as tests/test_build_files.py does)."""
    cflags = re.search(r"^CFLAGS = (.*)$", (bundle / "Makefile").read_text(), re.M).group(1)
    assert "-Wall -Wextra" in cflags
    assert "-Werror" not in cflags
    assert cflags.endswith("$(CFLAGS_EXTRA)")


def test_sizes_in_header_match_manifest(bundle):
    import json

    manifest = json.loads((bundle / "manifest.json").read_text())
    header = (bundle / "model.h").read_text()
    arena = int(re.search(r"DEEPX_ARENA_BYTES (\d+)u", header).group(1))
    weights = int(re.search(r"DEEPX_WEIGHTS_BYTES (\d+)u", header).group(1))
    assert arena == manifest["sizes"]["arena_bytes"]
    assert weights == manifest["sizes"]["weights_bytes"] == (bundle / "weights.bin").stat().st_size


def test_extra_cflags_reach_deepxcs_own_compile(tmp_path, monkeypatch):
    """DEEPXC_EXTRA_CFLAGS (the tests' -Werror) is passed to the compile of the runtime."""
    monkeypatch.setenv("DEEPXC_EXTRA_CFLAGS", "-Werror -include dx_mark.h")
    with pytest.raises(ToolchainError, match="dx_mark.h"):
        build_model(relu_add((2, 8)), "host", str(tmp_path / "bundle"), log=quiet)
