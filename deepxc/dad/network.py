"""The network between the device and the remote server, as two links of the planning
problem: device -> remote (uplink) and remote -> device (downlink).

A transfer of n bytes takes rtt/2 + n / throughput: half a round trip to get there, then
the bytes at the profile's throughput. Its energy on the device is the radio's power while
it transfers, from Huang et al. (MobiSys 2012): P = alpha * t + beta mW at a throughput of
t Mbps, over the n * 8 / (t * 1e6) seconds the bytes take. Per byte that is

    8e-9 * (alpha + beta / t) J

(the alpha term is 8 bits' worth of the per-Mbps power; beta, the radio's power whatever
the rate, is folded in at the profile's throughput). The half round trip itself and the
radio's tail after a transfer are not charged (see deepxc/targets/networks.toml)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from deepxc.dad.problem import Link
from deepxc.errors import DeepxcError
from deepxc.targets import NETWORKS_FILE, TARGETS_DIR

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIELDS = (
    "rtt_ms",
    "up_mbps",
    "down_mbps",
    "alpha_up_mw_per_mbps",
    "alpha_down_mw_per_mbps",
    "beta_mw",
)


@dataclass(frozen=True)
class NetworkProfile:
    name: str
    rtt_ms: float
    up_mbps: float
    down_mbps: float
    alpha_up_mw_per_mbps: float
    alpha_down_mw_per_mbps: float
    beta_mw: float
    server_target: str = "host"  # the target whose costs the remote server's blocks have

    def uplink(self) -> Link:
        """Device -> remote."""
        return _link(self.rtt_ms, self.up_mbps, self.alpha_up_mw_per_mbps, self.beta_mw)

    def downlink(self) -> Link:
        """Remote -> device."""
        return _link(self.rtt_ms, self.down_mbps, self.alpha_down_mw_per_mbps, self.beta_mw)


def _link(rtt_ms: float, mbps: float, alpha_mw_per_mbps: float, beta_mw: float) -> Link:
    return Link(
        latency_s=rtt_ms / 2 * 1e-3,
        bytes_per_s=mbps * 1e6 / 8,
        energy_j_per_byte=8e-9 * (alpha_mw_per_mbps + beta_mw / mbps),
    )


def measured_profile(rtt_ms: float, up_mbps: float, down_mbps: float) -> NetworkProfile:
    """A profile named "measured" of a round trip and bandwidths measured to a server;
    the radio's power model is wifi's (a measurement over the air says nothing of it)."""
    wifi = network_profile("wifi")
    return NetworkProfile(
        "measured",
        rtt_ms,
        up_mbps,
        down_mbps,
        wifi.alpha_up_mw_per_mbps,
        wifi.alpha_down_mw_per_mbps,
        wifi.beta_mw,
        wifi.server_target,
    )


def networks_path() -> Path:
    """networks.toml beside the targets (DEEPXC_TARGETS_DIR's if it has one)."""
    path = TARGETS_DIR / NETWORKS_FILE
    return (
        path if path.is_file() else Path(__file__).resolve().parents[1] / "targets" / NETWORKS_FILE
    )


def known_networks() -> list[str]:
    return sorted(name for name, value in _read().items() if isinstance(value, dict))


def network_profile(name: str) -> NetworkProfile:
    """The profile `name` of networks.toml ("wifi", "lte", "3g")."""
    data = _read()
    section = data.get(name)
    if not isinstance(section, dict):
        raise DeepxcError(
            f"unknown network '{name}': known networks are {', '.join(known_networks())} "
            f"(from {networks_path()})"
        )
    missing = [key for key in FIELDS if key not in section]
    unknown = sorted(set(section) - set(FIELDS))
    if missing or unknown:
        what = f"lacks {missing[0]}" if missing else f"has unknown field {unknown[0]}"
        raise DeepxcError(f"{networks_path()}: [{name}] {what}")
    values = {key: section[key] for key in FIELDS}
    bad = [key for key, value in values.items() if not _positive(value, key)]
    if bad:
        raise DeepxcError(
            f"{networks_path()}: [{name}] {bad[0]} = {values[bad[0]]!r} (a number > 0)"
        )
    return NetworkProfile(
        name=name,
        server_target=str(data.get("server_target", "host")),
        **{key: float(value) for key, value in values.items()},
    )


def _positive(value, key: str) -> bool:
    """Rates and times must be > 0; the power model's terms may be 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value >= 0 if key.startswith(("alpha", "beta")) else value > 0


def _read() -> dict:
    path = networks_path()
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DeepxcError(f"{path}: cannot read the network profiles ({exc})") from None
