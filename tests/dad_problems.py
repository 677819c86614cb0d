"""Random planning problems (seeded) for the solvers' tests and benchmark."""

from __future__ import annotations

import math
import random

from deepxc.dad.problem import Block, Edge, Link, Problem, Processor

PROCESSORS = ("cpu", "gpu", "dsp")


def _processors(rng: random.Random, memory_caps: bool) -> list[Processor]:
    shared = rng.random() < 0.3  # the gpu runs on the cpu's cores (as pocl does)
    return [
        Processor(
            name,
            group="cpu" if shared and name in ("cpu", "gpu") else "",
            memory_bytes=rng.uniform(2e6, 6e6) if memory_caps and name != "cpu" else math.inf,
            idle_w=rng.choice([0.0, rng.uniform(0.05, 0.5)]),
            on_device=name != "dsp" or rng.random() < 0.5,
        )
        for name in PROCESSORS
    ]


def _links(rng: random.Random) -> dict[tuple[str, str], Link]:
    links = {}
    for src in PROCESSORS:
        for dst in PROCESSORS:
            if src != dst and ("cpu" in (src, dst) or rng.random() < 0.6):
                links[src, dst] = Link(
                    latency_s=rng.uniform(1e-5, 3e-4),
                    bytes_per_s=rng.uniform(1e8, 2e9),
                    energy_j_per_byte=rng.uniform(0, 2e-9),
                )
    return links


def _block(rng: random.Random, name: str) -> Block:
    time = {"cpu": rng.uniform(1e-4, 2e-3)}
    for p in PROCESSORS[1:]:
        if rng.random() < 0.85:
            time[p] = time["cpu"] * rng.uniform(0.1, 1.5)
    return Block(
        name=name,
        layers=[name],
        time_s=time,
        energy_j={p: t * rng.uniform(0.5, 5.0) for p, t in time.items()},
        memory_bytes=rng.uniform(1e5, 1.5e6),
        kind="conv",
    )


def _io(name: str) -> Block:
    return Block(name=name, layers=[], time_s={"cpu": 0.0}, energy_j={"cpu": 0.0}, kind="io")


def random_problem(seed: int, blocks: int, memory_caps: bool | None = None) -> Problem:
    """`blocks` blocks in a random DAG; io blocks at both ends in about half the cases."""
    rng = random.Random(seed)
    if memory_caps is None:
        memory_caps = rng.random() < 0.3
    with_io = blocks >= 4 and rng.random() < 0.5
    inner = blocks - 2 if with_io else blocks
    made = [_block(rng, f"b{i}") for i in range(inner)]
    edges = []
    for i in range(1, inner):
        for j in rng.sample(range(i), min(i, rng.choice([1, 1, 2, 3]))):
            edges.append(Edge(f"b{j}", f"b{i}", rng.uniform(1e4, 1e6)))
    if with_io:
        sources = [b.name for b in made if not any(e.dst == b.name for e in edges)]
        sinks = [b.name for b in made if not any(e.src == b.name for e in edges)]
        edges += [Edge("input", s, rng.uniform(1e4, 1e6)) for s in sources]
        edges += [Edge(s, "output", rng.uniform(1e4, 1e6)) for s in sinks]
        made = [_io("input"), *made, _io("output")]
    return Problem(_processors(rng, memory_caps), made, edges, _links(rng))


def layered_problem(seed: int, blocks: int, width: int = 8) -> Problem:
    """A layered DAG: each block reads one to three blocks of the layer before."""
    rng = random.Random(seed)
    made = [_block(rng, f"b{i}") for i in range(blocks)]
    edges = []
    for i in range(width, blocks):
        layer_start = (i // width - 1) * width
        for j in rng.sample(range(layer_start, layer_start + width), rng.randint(1, 3)):
            edges.append(Edge(f"b{j}", f"b{i}", rng.uniform(1e4, 1e6)))
    return Problem(_processors(rng, memory_caps=False), made, edges, _links(rng))
