"""The remote client on its own: render its two templates (P = deepx, M = DEEPX), compile
them with tests/remote_client_main.c under AddressSanitizer and UBSan, and drive the
program one command at a time (see that file for the commands)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

TESTS = Path(__file__).resolve().parent
TEMPLATES = TESTS.parent / "deepxc" / "templates"
SANITIZERS = [
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]
SANITIZER_EXIT = 99
CAUSES = {
    "ok": 0,
    "no server": 1,
    "refused": 2,
    "timeout": 3,
    "io": 4,
    "http status": 5,
    "malformed": 6,
    "mismatch": 7,
    "short": 8,
}
NUMPY_TYPES = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32}


def render_client(directory: Path, api: str = "deepx", macro: str = "DEEPX") -> None:
    """remote_api.h and remote_client.c in `directory`, as model.h and model.c include them."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    for name in ("remote_api.h", "remote_client.c"):
        wrapper = f'{{% set P = "{api}" %}}{{% set M = "{macro}" %}}{{% include "{name}.j2" %}}'
        (directory / name).write_text(env.from_string(wrapper).render())


def sanitizers_work(directory: Path) -> bool:
    probe = directory / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    result = subprocess.run(
        ["cc", *SANITIZERS, str(probe), "-o", str(directory / "probe")], capture_output=True
    )
    return result.returncode == 0


def build_driver(directory: Path, cc: str = "cc", flags: tuple[str, ...] = ()) -> Path:
    """The driver, warnings as errors; sanitized when the compiler can."""
    directory.mkdir(parents=True, exist_ok=True)
    render_client(directory)
    shutil.copy(TESTS / "remote_client_main.c", directory)
    output = directory / "remote_client_main"
    sanitize = SANITIZERS + ["-g"] if cc == "cc" and sanitizers_work(directory) else []
    command = [cc, "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", *sanitize, *flags]
    command += [str(directory / "remote_client_main.c"), "-o", str(output)]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return output


@dataclass
class Tensor:
    name: str
    datatype: str
    shape: tuple[int, ...]

    @property
    def dtype(self):
        return np.dtype(NUMPY_TYPES[self.datatype])

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize


@dataclass
class Partition:
    model: str
    version: str | None
    inputs: list[Tensor]
    outputs: list[Tensor]

    def spec(self) -> str:
        lines = [f"model {self.model} {self.version or '-'}"]
        for kind, tensors in (("input", self.inputs), ("output", self.outputs)):
            for t in tensors:
                dims = " ".join(str(d) for d in t.shape)
                lines.append(f"{kind} {t.name} {t.datatype} {t.nbytes} {len(t.shape)} {dims}")
        return "\n".join(lines) + "\n"


@dataclass
class Result:
    cause: int
    micros: int
    guards_ok: bool
    outputs: dict[str, np.ndarray]


class Driver:
    """One running driver: one arena, one remote state, one connection at a time."""

    def __init__(self, program: Path, partition: Partition, inputs: dict, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "partition.txt").write_text(partition.spec())
        blob = b"".join(
            np.ascontiguousarray(inputs[t.name], t.dtype).tobytes() for t in partition.inputs
        )
        (directory / "inputs.raw").write_bytes(blob)
        self.partition = partition
        self._stderr = open(directory / "stderr.txt", "w+")
        self.process = subprocess.Popen(
            [str(program), str(directory / "partition.txt"), str(directory / "inputs.raw")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env={
                **os.environ,
                "ASAN_OPTIONS": f"detect_leaks=1:exitcode={SANITIZER_EXIT}",
                "UBSAN_OPTIONS": f"halt_on_error=1:print_stacktrace=1:exitcode={SANITIZER_EXIT}",
            },
        )

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *_exc) -> None:
        self.finish()

    def command(self, line: str) -> list[str]:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            self.process.wait()
            raise AssertionError(f"driver died ({self.process.returncode}): {self._errors()}")
        return answer.split()

    def configure(self, url: str | None, timeout_ms: int = 2000) -> int:
        return int(self.command(f"url {url} {timeout_ms}" if url else "nourl")[1])

    def infer(self) -> Result:
        words = self.command("infer")
        raw = bytes.fromhex(words[4]) if len(words) > 4 else b""
        outputs, at = {}, 0
        for t in self.partition.outputs:
            outputs[t.name] = np.frombuffer(raw[at : at + t.nbytes], t.dtype).reshape(t.shape)
            at += t.nbytes
        return Result(int(words[1]), int(words[2]), words[3] == "1", outputs)

    def stats(self) -> dict:
        numbers = [int(w) for w in self.command("stats")[1:]]
        return {
            "calls": numbers[0],
            "ok": numbers[1],
            "fallbacks": numbers[2],
            "causes": numbers[3:-1],
            "connects": numbers[-1],
        }

    def finish(self) -> None:
        """End the program; a sanitizer report or a leak fails here."""
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=30)
        self.process.stdout.close()
        code = self.process.returncode
        assert code == 0, f"driver exited {code}: {self._errors()}"
        self._stderr.close()

    def _errors(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-3000:]
