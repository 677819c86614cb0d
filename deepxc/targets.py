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
        )
    except (KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
        raise TargetError(f"{path}: broken target file ({exc})") from None
