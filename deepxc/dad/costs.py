"""The cost model of a target: how long a unit block takes on each processor, the
device's energy it costs, and what moving a tensor between processors costs.

Per processor and kernel class (conv, depthwise, dense, pool, elementwise):

    time = launch_us * 1e-6 * kernels + macs / (gmacs_per_s * 1e9)   (a pool: ops)
           + bytes / (gbytes_per_s * 1e9)
    energy = macs * nj_per_mac * 1e-9 + bytes * nj_per_byte * 1e-9

where `bytes` is what the block moves: activations read and written and its weights
(bytes_in + bytes_out + weight_bytes), and a rate of 0 drops its term. A pool has no
MACs: its MAC term counts `UnitBlock.ops` instead (its window reads, output elements x
window), at the pool class's `gmacs_per_s`, which `deepxc profile` fits the same way.
A channel slice has its own share of MACs and bytes but launches its kernels in full.
The model assumes the terms add (no overlap of compute and memory traffic) and that a
kernel's cost does not depend on what ran before it (no cache reuse between blocks).

The constants come from the target file, replaced per processor and class by a costs
file `deepxc profile` wrote (given, or found in the cache). A plan with a network adds the
"remote" processor: its blocks take the server target's cpu time and cost the device
nothing but the transfers (deepxc.dad.network)."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from deepxc.dad import problem
from deepxc.dad.network import NetworkProfile, network_profile
from deepxc.dad.unit_block import UnitBlock
from deepxc.errors import DeepxcError, InputFileError
from deepxc.targets import TARGETS_DIR, Target, load_target, tomllib
from deepxc.targets.cost_tables import (
    ENERGY_FIELDS,
    FIT_FIELDS,
    LINK_FIELDS,
    CostTableError,
    check_costs,
    check_table,
)

REMOTE = "remote"
MIB = 1 << 20


def default_costs_path(target_name: str) -> Path:
    """Where `deepxc profile` writes a target's costs and the planner looks for them:
    $XDG_CACHE_HOME/deepxc/costs/<target>.toml (~/.cache/deepxc/costs/... by default)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "deepxc" / "costs" / f"{target_name}.toml"


@dataclass
class CostModel:
    target: Target
    source: str  # where the constants came from: the target file or a costs file
    costs: dict[str, dict[str, dict[str, float]]]  # processor -> kernel class -> constants
    energy: dict[str, dict[str, float]]  # processor -> nj_per_mac, nj_per_byte, idle_mw
    device_links: dict[tuple[str, str], problem.Link]
    network: NetworkProfile | None = None
    server: CostModel | None = field(default=None, repr=False)  # the remote's costs

    def time_s(self, block: UnitBlock, processor: str) -> float:
        """Seconds `block` takes on `processor` (the module's formula)."""
        if block.kind == "io":
            return 0.0
        if processor == REMOTE:
            return self._server().time_s(block, self._server().cpu_name())
        constants = self._constants(block.kind, processor)
        launch = constants.get("launch_us", 0.0) * 1e-6 * max(block.kernels, 1)
        return (
            launch
            + _over(mac_term(block), constants.get("gmacs_per_s", 0.0))
            + _over(moved_bytes(block), constants.get("gbytes_per_s", 0.0))
        )

    def energy_j(self, block: UnitBlock, processor: str) -> float:
        """The device's joules for running `block` on `processor` (0 on the remote)."""
        if block.kind == "io" or processor == REMOTE:
            return 0.0
        self._constants(block.kind, processor)  # the same error as time_s when missing
        energy = self.energy.get(processor, {})
        return 1e-9 * (
            block.macs * energy.get("nj_per_mac", 0.0)
            + moved_bytes(block) * energy.get("nj_per_byte", 0.0)
        )

    def processors(self) -> list[problem.Processor]:
        processors = [
            problem.Processor(
                name=p.name,
                group=p.group,
                memory_bytes=p.memory_mb * MIB if p.memory_mb > 0 else math.inf,
                idle_w=self.energy.get(p.name, {}).get("idle_mw", 0.0) * 1e-3,
            )
            for p in self.target.processors
        ]
        if self.network is not None:  # the runtime's remote call has a thread of its own
            processors.append(problem.Processor(REMOTE, on_device=False))
        return processors

    def links(self) -> dict[tuple[str, str], problem.Link]:
        """Both directions between every two processors. With a network, the remote's
        links go through the cpu (which holds the network): another processor's tensor
        crosses to the cpu first, so its link is the two in a row."""
        links = dict(self.device_links)
        if self.network is None:
            return links
        cpu = self.cpu_name()
        up, down = self.network.uplink(), self.network.downlink()
        for p in self.target.processors:
            if p.name == cpu:
                links[(p.name, REMOTE)], links[(REMOTE, p.name)] = up, down
            else:
                links[(p.name, REMOTE)] = _in_series(links[(p.name, cpu)], up)
                links[(REMOTE, p.name)] = _in_series(down, links[(cpu, p.name)])
        return links

    def with_network(self, network: str | NetworkProfile | None) -> CostModel:
        """This model with the remote server reached over `network` (a profile name)."""
        if network is None:
            return dataclasses.replace(self, network=None, server=None)
        profile = network_profile(network) if isinstance(network, str) else network
        server = load_costs(load_target(profile.server_target))
        return dataclasses.replace(self, network=profile, server=server)

    def cpu_name(self) -> str:
        return next((p.name for p in self.target.processors if p.kind == "cpu"), "cpu")

    def _server(self) -> CostModel:
        if self.server is None:
            raise DeepxcError(
                f"target {self.target.name}: a block on the remote needs a network "
                "(give one, e.g. wifi)"
            )
        return self.server

    def _constants(self, kind: str, processor: str) -> dict[str, float]:
        if processor not in self.costs:
            raise DeepxcError(f"target {self.target.name} has no processor '{processor}'")
        constants = self.costs[processor].get(kind, {})
        if not any(constants.values()):
            raise DeepxcError(
                f"target {self.target.name}: processor {processor} has no cost constants "
                f"for {kind} kernels (run `deepxc profile --target {self.target.name}` or "
                "add them to the target file)"
            )
        return constants


def mac_term(block: UnitBlock) -> int:
    """What the `gmacs_per_s` rate counts for a block: a pool's window reads, else its
    MACs."""
    return block.ops if block.kind == "pool" else block.macs


def moved_bytes(block: UnitBlock) -> int:
    """The bytes a block moves: activations read and written, and its weights."""
    return block.bytes_in + block.bytes_out + block.weight_bytes


def _over(amount: float, giga_per_s: float) -> float:
    return amount / (giga_per_s * 1e9) if giga_per_s > 0 else 0.0


def _in_series(first: problem.Link, second: problem.Link) -> problem.Link:
    """Two links one after the other, as one: the latencies and the per-byte times add."""
    return problem.Link(
        latency_s=first.latency_s + second.latency_s,
        bytes_per_s=1.0 / (1.0 / first.bytes_per_s + 1.0 / second.bytes_per_s),
        energy_j_per_byte=first.energy_j_per_byte + second.energy_j_per_byte,
    )


def load_costs(
    target: Target, path: str | Path | None = None, network: str | NetworkProfile | None = None
) -> CostModel:
    """The cost model of `target`: its target file's constants, replaced by those of the
    costs file at `path`, else of the one in the cache (default_costs_path) if present;
    with the remote server over `network` if given."""
    costs = {p.name: {kind: dict(t) for kind, t in p.cost.items()} for p in target.processors}
    energy = {p.name: dict(p.energy) for p in target.processors}
    links = {}
    for link in target.links:
        ends = link.get("between") or [link["from"], link["to"]]
        pairs = [tuple(ends), tuple(reversed(ends))] if "between" in link else [tuple(ends)]
        for pair in pairs:
            links[pair] = _link(link)
    source = f"target file {target.file or TARGETS_DIR / (target.name + '.toml')}"
    if path is None and default_costs_path(target.name).is_file():
        path = default_costs_path(target.name)
    if path is not None:
        source = _apply_costs_file(Path(path), target, costs, energy, links)
    model = CostModel(target, source, costs, energy, links)
    _check_complete(model)
    return model.with_network(network) if network is not None else model


def _link(numbers: dict) -> problem.Link:
    return problem.Link(
        latency_s=numbers.get("latency_us", 0.0) * 1e-6,
        bytes_per_s=numbers["gbytes_per_s"] * 1e9,
        energy_j_per_byte=numbers.get("nj_per_byte", 0.0) * 1e-9,
    )


def _apply_costs_file(path: Path, target: Target, costs, energy, links) -> str:
    """Replace the constants `path` names (per processor and class, energy, links) and say
    where they came from."""
    if not path.is_file():
        raise InputFileError(f"costs file {path}: no such file")
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputFileError(f"costs file {path}: cannot read it ({exc})") from None
    if data.get("target") != target.name:
        raise InputFileError(
            f"costs file {path}: measured for target {data.get('target')!r}, "
            f"not {target.name!r} (run `deepxc profile --target {target.name}`)"
        )
    names = [p.name for p in target.processors]
    try:
        for name, section in data.items():
            if name in ("target", "machine", "measured"):
                continue
            if name == "links":
                _apply_links(section, names, links)
            elif name in names:
                _apply_processor(section, name, costs, energy)
            else:
                raise CostTableError(
                    f"[{name}]: target {target.name} has no processor {name!r} "
                    f"(it has {', '.join(names)})"
                )
    except CostTableError as exc:
        raise InputFileError(f"costs file {path}: {exc}") from None
    measured = ", ".join(str(data[k]) for k in ("machine", "measured") if k in data)
    return f"costs file {path}" + (f" ({measured})" if measured else "")


def _apply_processor(section, name: str, costs, energy) -> None:
    if not isinstance(section, dict):
        raise CostTableError(f"[{name}] must be a table")
    unknown = sorted(set(section) - {"cost", "energy"})
    if unknown:
        raise CostTableError(f"[{name}] has unknown table {unknown[0]!r} (cost, energy)")
    for kind, table in check_costs(section.get("cost", {}), f"{name}.cost", FIT_FIELDS).items():
        costs[name][kind] = table
    energy[name].update(check_table(section.get("energy", {}), ENERGY_FIELDS, f"{name}.energy"))


def _apply_links(section, names: list[str], links) -> None:
    """[links.A-B] tables: the link between A and B, both directions."""
    if not isinstance(section, dict):
        raise CostTableError("[links] must be a table of [links.A-B] tables")
    for key, table in section.items():
        pair = next(((a, b) for a in names for b in names if a != b and key == f"{a}-{b}"), None)
        if pair is None:
            raise CostTableError(f"[links.{key}]: not two processors A-B of {', '.join(names)}")
        numbers = check_table(table, LINK_FIELDS, f"links.{key}", FIT_FIELDS)
        for ends in (pair, pair[::-1]):
            old = links.get(ends)
            if old is not None:
                numbers.setdefault("nj_per_byte", old.energy_j_per_byte * 1e9)
                numbers.setdefault("gbytes_per_s", old.bytes_per_s * 1e-9)
                numbers.setdefault("latency_us", old.latency_s * 1e6)
            if numbers.get("gbytes_per_s", 0.0) <= 0:
                raise CostTableError(f"[links.{key}] gbytes_per_s must be given and > 0")
            links[ends] = _link(numbers)


def _check_complete(model: CostModel) -> None:
    """Every processor has some constants, and every two processors a link."""
    name = model.target.name
    for processor in model.target.processors:
        tables = model.costs.get(processor.name, {})
        if not any(any(t.values()) for t in tables.values()):
            raise DeepxcError(
                f"target {name}: processor {processor.name} has no cost constants "
                f"(run `deepxc profile --target {name}`)"
            )
    names = [p.name for p in model.target.processors]
    for a in names:
        for b in names:
            if a != b and (a, b) not in model.device_links:
                raise DeepxcError(
                    f"target {name}: no link from {a} to {b} (add a [[links]] entry "
                    f'between = ["{a}", "{b}"] to the target file)'
                )
