"""The network between this machine and a `deepxc serve` server, measured with its
`deepxc_echo` model over KServe v2 HTTP with the binary tensor extension (as the device
runtime speaks it), on one kept-alive connection:
- rtt_ms: the median time of a request carrying one float each way (the server's fixed
  cost per request included, which the device pays too);
- up_mbps, down_mbps: from the median time of ~1 MB requests, less the tiny ones'. The
  echo carries the same bytes both ways, so the two are one measure: the link is taken
  to be symmetric."""

from __future__ import annotations

import http.client
import json
import statistics
import time
import urllib.parse

import numpy as np

from deepxc.errors import DeepxcError

ECHO_PATH = "/v2/models/deepxc_echo/versions/1/infer"
BIG_BYTES = 1 << 20
WARMUP = 2


class ProbeError(DeepxcError):
    """The server cannot be reached, or its echo does not answer as it should."""


def _connection(url: str, timeout_s: float) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProbeError(f"{url}: not an http:// URL of a deepxc server")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return kind(parts.hostname, parts.port, timeout=timeout_s)


def _echo(connection: http.client.HTTPConnection, url: str, data: np.ndarray) -> float:
    """One echo round trip of `data`; its time in seconds, the reply checked."""
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input0",
                    "shape": [data.size],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": data.nbytes},
                }
            ],
            "outputs": [{"name": "output0", "parameters": {"binary_data": True}}],
        }
    ).encode()
    payload = data.astype("<f4").tobytes()
    started = time.perf_counter()
    try:
        connection.request(
            "POST",
            ECHO_PATH,
            body=header + payload,
            headers={
                "Content-Type": "application/octet-stream",
                "Inference-Header-Content-Length": str(len(header)),
            },
        )
        reply = connection.getresponse()
        body = reply.read()
    except (OSError, http.client.HTTPException) as exc:
        raise ProbeError(f"{url}: {exc.__class__.__name__}: {exc}") from None
    elapsed = time.perf_counter() - started
    length = reply.getheader("Inference-Header-Content-Length")
    if reply.status != 200 or length is None or body[int(length) :] != payload:
        raise ProbeError(
            f"{url}: the model deepxc_echo did not echo {data.nbytes} bytes (HTTP "
            f"{reply.status}): is it a `deepxc serve` server?"
        )
    return elapsed


def measure_network(
    url: str, samples: int = 20, big_bytes: int = BIG_BYTES, timeout_s: float = 30.0
) -> dict[str, float]:
    """Round-trip time (ms) and bandwidth (Mbit/s) to the server at `url`: medians of
    `samples` tiny requests and of max(3, samples // 4) requests of `big_bytes` each way."""
    tiny = np.zeros(1, dtype=np.float32)
    big = np.random.default_rng(0).standard_normal(max(1, big_bytes // 4)).astype(np.float32)
    connection = _connection(url, timeout_s)
    try:
        for _ in range(WARMUP):
            _echo(connection, url, tiny)
        rtt_s = statistics.median(_echo(connection, url, tiny) for _ in range(samples))
        _echo(connection, url, big)
        big_s = statistics.median(_echo(connection, url, big) for _ in range(max(3, samples // 4)))
    finally:
        connection.close()
    transfer_s = max(big_s - rtt_s, 1e-9)  # the big bytes' own time, each way
    mbps = (big.nbytes - tiny.nbytes) * 8 / transfer_s / 1e6 * 2  # up and down in that time
    return {"rtt_ms": rtt_s * 1e3, "up_mbps": mbps, "down_mbps": mbps}
