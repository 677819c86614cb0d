"""Targets are data: one TOML file per target in `targets/`, read into one dataclass."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from deepxc.errors import TargetError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TARGETS_DIR = Path(
    os.environ.get("DEEPXC_TARGETS_DIR", Path(__file__).resolve().parents[1] / "targets")
)


@dataclass
class Processor:
    name: str
    kind: str
    cores: int
    clock_ghz: float


@dataclass(frozen=True)
class Vector:
    """The SIMD unit the schedule rules tile for: 32-bit lanes per register, and registers."""

    lanes: int
    registers: int


@dataclass
class Target:
    name: str
    description: str
    tvm: dict
    cc: str
    cflags: list[str]
    ldflags: list[str]
    libs: list[str]
    runner: list[str]
    processors: list[Processor]
    cost: dict = field(default_factory=dict)
    vector: Vector = Vector(4, 16)

    @property
    def cpu_cores(self) -> int:
        """Default thread count of a build: the cores of the target's CPU."""
        return next((p.cores for p in self.processors if p.kind == "cpu"), 1)


def known_targets() -> list[str]:
    return sorted(path.stem for path in TARGETS_DIR.glob("*.toml"))


def load_target(name: str) -> Target:
    path = TARGETS_DIR / f"{name}.toml"
    if not path.is_file():
        raise TargetError(
            f"unknown target '{name}': known targets are {', '.join(known_targets())}"
        )
    try:
        data = tomllib.loads(path.read_text())
        toolchain = data["toolchain"]
        return Target(
            name=data["name"],
            description=data["description"],
            tvm=dict(data["tvm"]),
            cc=toolchain["cc"],
            cflags=list(toolchain.get("cflags", [])),
            ldflags=list(toolchain.get("ldflags", [])),
            libs=list(toolchain.get("libs", [])),
            runner=list(toolchain.get("runner", [])),
            processors=[Processor(**p) for p in data.get("processors", [])],
            cost=dict(data.get("cost", {})),
            vector=_vector(data.get("vector", {})),
        )
    except (KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
        raise TargetError(f"{path}: broken target file ({exc})") from None


def _vector(section: dict) -> Vector:
    bits, registers = section.get("bits", 128), section.get("registers", 16)
    if "native" in (bits, registers):
        native_bits, native_registers = _native_vector()
        bits = native_bits if bits == "native" else bits
        registers = native_registers if registers == "native" else registers
    return Vector(int(bits) // 32, int(registers))


def _native_vector() -> tuple[int, int]:
    """(bits, registers) of the build machine's float SIMD, from /proc/cpuinfo's flags."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(("flags", "Features")):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    if "avx2" in flags and "fma" in flags:
        return 256, 32 if "avx512vl" in flags else 16
    if "asimd" in flags:
        return 128, 32
    return 128, 16
