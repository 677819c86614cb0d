"""Cost constants from measured kernel times: per kernel class,
`time = launch + macs * a + bytes * b` by non-negative least squares on the relative
error (each row weighted by 1/time, so that small kernels count as much as big ones);
with transfers, one fit of every class together with the link between two processors
(`latency + bytes / bandwidth` per tensor moved).

On a GPU a measured call is a partition: besides its kernels it pays once for the
partition (mapping its inputs and outputs, the flush and the wait), which the fit takes
as a column of its own, and the bytes it moves over the link. Partitions of 1 to 4
kernels keep that overhead apart from the kernels' launches. The planner charges the
link's latency on every edge that crosses it, and a partition has one crossing in and
one out: the link's `latency_us` is half the partition overhead.

Constants are reported as the cost model writes them: `gmacs_per_s = 1 / a / 1e9` and
`gbytes_per_s = 1 / b / 1e9`, 0 where the fit found no such term."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from deepxc.errors import DeepxcError

NEGLIGIBLE = 1e-3


class FitError(DeepxcError):
    """Too few or unusable measurements to fit the cost constants."""


@dataclass(frozen=True)
class Measurement:
    """One timed call: its kernel class, the work in it (`macs`: a pool's window reads),
    its kernels, and whether it is a GPU partition (`partitions` 1) with the bytes that
    crossed the link (its inputs and outputs); 0 on the processor the model runs from."""

    kind: str
    macs: float
    nbytes: float
    time_s: float
    kernels: int = 1
    partitions: int = 0
    transfer_bytes: float = 0.0


@dataclass(frozen=True)
class ClassFit:
    launch_us: float
    gmacs_per_s: float  # 0: no MAC term
    gbytes_per_s: float  # 0: no bytes term
    rms_rel_error: float
    samples: int

    def time_s(self, macs: float, nbytes: float, kernels: int = 1) -> float:
        """The time the constants predict for a call."""
        return (
            self.launch_us * 1e-6 * kernels
            + (macs / (self.gmacs_per_s * 1e9) if self.gmacs_per_s else 0.0)
            + (nbytes / (self.gbytes_per_s * 1e9) if self.gbytes_per_s else 0.0)
        )


@dataclass(frozen=True)
class LinkFit:
    latency_us: float
    gbytes_per_s: float  # 0: no bytes term

    def time_s(self, nbytes: float, transfers: int = 1) -> float:
        per_byte = 1.0 / (self.gbytes_per_s * 1e9) if self.gbytes_per_s else 0.0
        return self.latency_us * 1e-6 * transfers + nbytes * per_byte


def relative_nnls(columns: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Non-negative x minimising sum(((columns @ x) - times) / times)^2. Columns are scaled
    to unit norm first (MACs and bytes are millions, counts are ones); an all-zero column
    gets 0."""
    columns = np.asarray(columns, dtype=float)
    times = np.asarray(times, dtype=float)
    if np.any(times <= 0) or not np.all(np.isfinite(times)):
        raise FitError("measured times must be positive")
    weighted = columns / times[:, None]
    norms = np.linalg.norm(weighted, axis=0)
    used = norms > 0
    coefficients = np.zeros(columns.shape[1])
    solution, _ = nnls(weighted[:, used] / norms[used], np.ones(len(times)))
    coefficients[used] = solution / norms[used]
    return coefficients


def fit_costs(
    measurements: Sequence[Measurement],
) -> tuple[dict[str, ClassFit], LinkFit | None]:
    """Each kernel class's constants, and the link's if any measurement is a partition,
    fitted together (a call's time is its kernels' plus its partition's overhead and
    transfer; the link's latency is half that overhead)."""
    if not measurements:
        raise FitError("no measurements to fit")
    kinds = list(dict.fromkeys(m.kind for m in measurements))
    with_link = any(m.partitions for m in measurements)
    width = 3 * len(kinds) + (2 if with_link else 0)
    columns = np.zeros((len(measurements), width))
    for row, m in enumerate(measurements):
        first = 3 * kinds.index(m.kind)
        columns[row, first : first + 3] = (m.kernels, m.macs, m.nbytes)
        if with_link:
            columns[row, -2:] = (m.partitions, m.transfer_bytes)
    times = np.array([m.time_s for m in measurements])
    too_few = [k for k in kinds if sum(m.kind == k for m in measurements) < 2]
    if too_few:
        raise FitError(f"kernel class {too_few[0]}: fewer than 2 measurements to fit")
    x = relative_nnls(columns, times)
    share = np.max(columns * x / times[:, None], axis=0)
    x[share < NEGLIGIBLE] = 0.0  # a term under 0.1% of every call's time is noise
    errors = (columns @ x - times) / times
    fits = {}
    for index, kind in enumerate(kinds):
        launch, per_mac, per_byte = x[3 * index : 3 * index + 3]
        rows = np.array([m.kind == kind for m in measurements])
        fits[kind] = ClassFit(
            launch_us=float(launch * 1e6),
            gmacs_per_s=_rate(per_mac),
            gbytes_per_s=_rate(per_byte),
            rms_rel_error=float(np.sqrt(np.mean(errors[rows] ** 2))),
            samples=int(rows.sum()),
        )
    link = LinkFit(float(x[-2] * 1e6 / 2), _rate(x[-1])) if with_link else None
    return fits, link


def _rate(seconds_per_unit: float) -> float:
    """Units per ns (G units per second) from seconds per unit; 0 for no term."""
    return float(1.0 / seconds_per_unit / 1e9) if seconds_per_unit > 0 else 0.0
