"""Targets are data: one TOML file per target beside this file (or in $DEEPXC_TARGETS_DIR),
or any TOML file of the same form named by its path, read into one dataclass."""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from deepxc.errors import TargetError
from deepxc.targets.cost_tables import (
    ENERGY_FIELDS,
    CostTableError,
    check_costs,
    check_link,
    check_number,
    check_table,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TARGETS_DIR = Path(os.environ.get("DEEPXC_TARGETS_DIR", Path(__file__).resolve().parent))
NETWORKS_FILE = "networks.toml"  # beside the targets, and not one (deepxc.dad.network)


@dataclass
class Processor:
    """A [[processors]] entry. The cost model's constants (`deepxc.targets.cost_tables`):
    `cost` per kernel class {gmacs_per_s, gbytes_per_s, launch_us}, `energy` {nj_per_mac,
    nj_per_byte, idle_mw}. `group`: processors sharing hardware (an OpenCL device running
    on the CPU's own cores is in group "cpu"). `memory_mb`: what blocks placed on it may
    hold, in MiB (0: no limit of its own)."""

    name: str
    kind: str
    cores: int
    clock_ghz: float
    group: str = ""
    memory_mb: float = 0.0
    cost: dict = field(default_factory=dict)
    energy: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Core:
    """What the schedule rules tile for: 32-bit lanes per SIMD register, the registers, and
    the L1 data and L2 cache sizes of one core."""

    lanes: int
    registers: int
    l1d_bytes: int = 32 << 10
    l2_bytes: int = 1 << 20


@dataclass(frozen=True)
class Gpu:
    """A target's GPU (the [gpu] section of its target file): the API its kernels are
    built for and the limits every kernel must fit.

    Both APIs: the largest work-group (CUDA: threads per block) and its local memory
    (CUDA: shared memory per block). CUDA: the PTX `.target`, the newest PTX ISA the
    board's driver reads, and the address size of the process that loads it. OpenCL: the
    OpenCL C version, and whether `double` and 64-bit `long` exist (both optional in the
    embedded profile)."""

    api: str  # "cuda" | "opencl"
    max_work_group_size: int
    local_memory_bytes: int
    cores: int = 0
    arch: str = ""  # cuda: "sm_32"
    ptx_isa: str = ""  # cuda: "4.1"
    driver_cuda: str = ""  # cuda: the CUDA version of the board's driver
    address_bits: int = 64  # cuda: 32 for a 32-bit host process
    registers_per_block: int = 0  # cuda: a block's threads times registers per thread
    opencl_c: str = "1.2"  # opencl: the version the source builds under (-cl-std=CL1.1)
    fp64: bool = False
    int64: bool = False


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
    links: list[dict] = field(default_factory=list)  # [[links]], checked by check_link
    core: Core = Core(4, 16)
    debian_package: str = ""  # the Debian package holding the toolchain, for error messages
    file: str = ""  # the target file a path named; "" for a known target
    gpu: Gpu | None = None  # the [gpu] section; None: the target has no GPU
    # [toolchain.dynamic]: ldflags, libs and runner of a bundle that dlopens its GPU's
    # library (a static binary cannot); by default the static ones without -static, -ldl
    dynamic: dict = field(default_factory=dict)

    def dynamically_linked(self) -> Target:
        """This target as a bundle with GPU partitions builds and runs: linked
        dynamically (it opens the GPU's library with dlopen)."""
        return dataclasses.replace(
            self,
            ldflags=list(self.dynamic.get("ldflags", [f for f in self.ldflags if f != "-static"])),
            libs=list(self.dynamic.get("libs", [*self.libs, "-ldl"])),
            runner=list(self.dynamic.get("runner", self.runner)),
        )

    @property
    def cpu_cores(self) -> int:
        """Default thread count of a build: the cores of the target's CPU."""
        return next((p.cores for p in self.processors if p.kind == "cpu"), 1)


def known_targets() -> list[str]:
    """The target names in TARGETS_DIR; none at all is a broken install, said loudly."""
    names = sorted(path.stem for path in TARGETS_DIR.glob("*.toml") if path.name != NETWORKS_FILE)
    if not names:
        where = "DEEPXC_TARGETS_DIR" if "DEEPXC_TARGETS_DIR" in os.environ else "the package"
        raise TargetError(
            f"no target files (*.toml) in {TARGETS_DIR} (from {where}): "
            "the installation is incomplete, reinstall deepxc or fix DEEPXC_TARGETS_DIR"
        )
    return names


def is_target_file(name: str) -> bool:
    """`--target` names a file (rather than a known target) when it looks like a path."""
    return name.endswith(".toml") or os.sep in name or "/" in name


def load_target(name: str) -> Target:
    """A known target by name, or the target file at `name` if it looks like a path."""
    if is_target_file(name):
        path = Path(name)
        if not path.is_file():
            raise TargetError(f"target file {name}: no such file")
    else:
        path = TARGETS_DIR / f"{name}.toml"
        if not path.is_file() or path.name == NETWORKS_FILE:
            raise TargetError(
                f"unknown target '{name}': known targets are {', '.join(known_targets())} "
                "(or give a path to a target file, FILE.toml)"
            )
    try:
        data = tomllib.loads(path.read_text())
        toolchain = data["toolchain"]
        processors = [_processor(p) for p in data.get("processors", [])]
        return Target(
            name=data["name"],
            description=data["description"],
            tvm=dict(data["tvm"]),
            cc=toolchain["cc"],
            cflags=list(toolchain.get("cflags", [])),
            ldflags=list(toolchain.get("ldflags", [])),
            libs=list(toolchain.get("libs", [])),
            runner=list(toolchain.get("runner", [])),
            processors=processors,
            links=[
                check_link(link, [p.name for p in processors], f"links #{i + 1}")
                for i, link in enumerate(data.get("links", []))
            ],
            core=_core(data.get("vector", {}), data.get("cache", {})),
            debian_package=str(toolchain.get("debian_package", "")),
            file=str(path.resolve()) if is_target_file(name) else "",
            gpu=_gpu(data["gpu"]) if "gpu" in data else None,
            dynamic=dict(toolchain.get("dynamic", {})),
        )
    except CostTableError as exc:
        raise TargetError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise TargetError(f"{path}: broken target file ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise TargetError(f"{path}: cannot read the target file ({exc})") from None


def _processor(section: dict) -> Processor:
    """A [[processors]] entry; `cores = "native"` counts the cores this process may use."""
    processor = Processor(**section)
    if processor.cores == "native":
        processor.cores = native_cores()
    if not isinstance(processor.cores, int) or processor.cores < 1:
        raise ValueError(f"processor {processor.name}: cores = {processor.cores!r}")
    if not isinstance(processor.group, str):
        raise CostTableError(f"[processors {processor.name}] group = {processor.group!r}: a name")
    where = f"processors {processor.name}"
    processor.memory_mb = check_number(processor.memory_mb, f"[{where}] memory_mb")
    processor.cost = check_costs(processor.cost, f"{where}.cost")
    processor.energy = check_table(processor.energy, ENERGY_FIELDS, f"{where}.energy")
    return processor


def _gpu(section: dict) -> Gpu:
    gpu = Gpu(**section)
    if gpu.api not in ("cuda", "opencl"):
        raise ValueError(f'[gpu] api = {gpu.api!r} ("cuda" or "opencl")')
    if gpu.address_bits not in (32, 64):
        raise ValueError(f"[gpu] address_bits = {gpu.address_bits!r} (32 or 64)")
    if gpu.api == "cuda" and not (gpu.arch and gpu.ptx_isa):
        raise ValueError('[gpu] api = "cuda" needs arch and ptx_isa')
    return gpu


def native_cores() -> int:
    """The build machine's cores this process may run on (its CPU affinity)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _core(section: dict, cache: dict) -> Core:
    bits, registers = section.get("bits", 128), section.get("registers", 16)
    if "native" in (bits, registers):
        native_bits, native_registers = _native_vector()
        bits = native_bits if bits == "native" else bits
        registers = native_registers if registers == "native" else registers
    l1d, l2 = cache.get("l1d_kb", 32), cache.get("l2_kb", 1024)
    if "native" in (l1d, l2):
        native_l1d, native_l2 = _native_caches()
        l1d = native_l1d if l1d == "native" else l1d
        l2 = native_l2 if l2 == "native" else l2
    return Core(int(bits) // 32, int(registers), int(l1d) << 10, int(l2) << 10)


def _native_caches() -> tuple[int, int]:
    """(L1 data, L2) sizes in KB of the build machine's first CPU, from sysfs."""
    sizes = {1: 32, 2: 1024}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in base.glob("index*"):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if level in sizes and kind in ("Data", "Unified") and size.endswith("K"):
            sizes[level] = int(size[:-1])
    return sizes[1], sizes[2]


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
