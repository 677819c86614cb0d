"""A fake KServe v2 inference server on 127.0.0.1 that answers from a Python callable, or
with a fault chosen at run time: what a device's remote client must survive.

    with FaultServer(compute) as server:   # compute(dict name -> array) -> dict name -> array
        server.fault = "truncated"          # None: answer correctly
        ... server.url, server.requests (inference requests read), server.restart()

Requests and replies use the binary tensor data extension (a request may also carry JSON
"data"); the connection is kept alive between requests, as Triton does."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable

import numpy as np

DATATYPES = {
    "FP32": np.float32,
    "FP64": np.float64,
    "INT64": np.int64,
    "INT32": np.int32,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "BOOL": np.bool_,
}
KSERVE_NAMES = {np.dtype(v): k for k, v in DATATYPES.items()}

# Each fault, and what a correct client makes of it.
FAULTS = {
    "slow": "the reply comes `delay` seconds late",
    "garbage": "bytes that are not HTTP, then close",
    "truncated": "headers and half the body, then close",
    "wrong_shape": "the first output's dimensions reversed (an extra 1 if that is the same)",
    "wrong_datatype": "the first output's datatype changes (same size)",
    "missing_output": "the last output is left out",
    "oversized": "the first output's binary_data_size (and bytes) 64 larger",
    "http_500": "HTTP 500 with a JSON error",
    "close": "close right after reading the request",
    "json_only": "HTTP 200 with the outputs as JSON data, no binary part",
    "lying_length": "Content-Length 16 short of the body sent",
    "chunked": "a chunked body instead of Content-Length",
    "mutated": "one random edit in the headers or JSON header (seeded: `random`), then close",
    "deep_nesting": "an unknown key whose value nests 200 arrays deep",
    # not faults: a client must accept these
    "reordered": "outputs listed in reverse order",
    "unknown_keys": "extra keys with nested values and escaped strings around the outputs",
}
SEND_FAILURES = (OSError, ValueError)


class FaultServer:
    def __init__(
        self,
        compute: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
        port: int = 0,
        delay: float = 1.0,
    ) -> None:
        self.compute = compute
        self.fault: str | None = None
        self.delay = delay  # seconds the "slow" fault waits
        self.random = random.Random(0)  # what the "mutated" fault draws from
        self.requests = 0  # inference requests read, over restarts
        self.paths: list[str] = []  # their request paths, in order
        self.port = port
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultServer:
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.05)  # the accept loop looks at the stop flag this often
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping = threading.Event()
        self._spawn(self._accept_loop, listener, self._stopping)

    def stop(self) -> None:
        """Close the port and every open connection (clients see a reset or a close)."""
        self._stopping.set()
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            _close(connection)
        for thread in self._threads:
            thread.join(timeout=self.delay + 1)
        self._threads = []
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def restart(self) -> None:
        """Stop, then listen again on the same port: a server restart."""
        self.stop()
        self.start()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self, listener: socket.socket, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(None)
            with self._lock:
                if stopping.is_set():
                    _close(connection)
                    return
                self._connections.add(connection)
            self._spawn(self._serve, connection, stopping)

    def _serve(self, connection: socket.socket, stopping: threading.Event) -> None:
        reader = connection.makefile("rb")
        try:
            while not stopping.is_set():
                request = _read_request(reader)
                if request is None:
                    break
                with self._lock:
                    self.requests += 1
                    self.paths.append(request[0])
                if not self._answer(connection, *request):
                    break
        except SEND_FAILURES:
            pass  # the client or stop() closed the connection
        finally:
            reader.close()
            with self._lock:
                self._connections.discard(connection)
            _close(connection)

    def _answer(self, connection: socket.socket, path: str, headers: dict, body: bytes) -> bool:
        """Send the reply the current fault asks for; whether the connection stays open."""
        fault = self.fault
        if fault == "close":
            return False
        if fault == "garbage":
            connection.sendall(b"\x00\xffnot http at all\r\n\r\n" * 4)
            return False
        if fault == "slow":
            time.sleep(self.delay)
        if fault == "http_500":
            _send(connection, "500 Internal Server Error", b'{"error":"injected"}', {})
            return True
        outputs = list(self.compute(_decode_inputs(headers, body)).items())
        if fault == "json_only":
            listed = [
                _entry(name, value) | {"data": value.ravel().tolist()} for name, value in outputs
            ]
            for entry in listed:
                del entry["parameters"]
            _send(connection, "200 OK", json.dumps({"outputs": listed}).encode(), {})
            return True
        text, payload = _binary_reply(outputs, fault)
        body = text + payload
        extra = {"Inference-Header-Content-Length": str(len(text))}
        if fault == "chunked":
            chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
            extra["Transfer-Encoding"] = "chunked"
            _send(connection, "200 OK", chunked, extra, length=None)
            return True
        if fault == "mutated":
            reply = _reply("200 OK", body, extra)
            connection.sendall(_mutate(reply, len(reply) - len(payload), self.random))
            return False
        if fault == "truncated":
            _send(connection, "200 OK", body[: len(text) + len(payload) // 2], extra, len(body))
            return False
        length = len(body) - 16 if fault == "lying_length" else len(body)
        _send(connection, "200 OK", body, extra, length)
        return True


def _close(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    connection.close()


def _read_request(reader) -> tuple[str, dict, bytes] | None:
    line = reader.readline()
    if not line:
        return None
    path = line.decode("latin-1").split(" ")[1]
    headers = {}
    while True:
        header = reader.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0")))
    return path, headers, body


def _decode_inputs(headers: dict, body: bytes) -> dict[str, np.ndarray]:
    size = int(headers.get("inference-header-content-length", len(body)))
    header = json.loads(body[:size])
    at = size
    inputs = {}
    for spec in header["inputs"]:
        dtype = DATATYPES[spec["datatype"]]
        nbytes = spec.get("parameters", {}).get("binary_data_size")
        if nbytes is None:
            value = np.array(spec["data"], dtype=dtype)
        else:
            value = np.frombuffer(body[at : at + nbytes], dtype=dtype)
            at += nbytes
        inputs[spec["name"]] = value.reshape(spec["shape"])
    return inputs


def _entry(name: str, value: np.ndarray) -> dict:
    return {
        "name": name,
        "datatype": KSERVE_NAMES[value.dtype],
        "shape": list(value.shape),
        "parameters": {"binary_data_size": value.nbytes},
    }


def _binary_reply(outputs: list[tuple[str, np.ndarray]], fault: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the outputs' bytes, with the fault's change made."""
    entries = [_entry(name, value) for name, value in outputs]
    blobs = [np.ascontiguousarray(value).tobytes() for _, value in outputs]
    if fault == "wrong_shape":  # the dimensions reversed: same size, same rank
        shape = entries[0]["shape"]
        entries[0]["shape"] = shape[::-1] if shape != shape[::-1] else shape + [1]
    elif fault == "wrong_datatype":
        entries[0]["datatype"] = "INT32" if entries[0]["datatype"] != "INT32" else "FP32"
    elif fault == "missing_output":
        entries, blobs = entries[:-1], blobs[:-1]
    elif fault == "oversized":
        entries[0]["parameters"]["binary_data_size"] += 64
        blobs[0] += bytes(64)
    elif fault == "reordered":
        entries, blobs = entries[::-1], blobs[::-1]
    header: dict = {"model_name": "fake", "model_version": "1", "outputs": entries}
    if fault == "unknown_keys":
        header = {
            "id": 'a "quoted" \\ name',
            "parameters": {"nested": [[1, 2.5e-3, {"x": [True, None, False]}], "}]"]},
            "outputs": [
                {
                    "parameters": {
                        "note": "{[",
                        "binary_data_size": e["parameters"]["binary_data_size"],
                    },
                    "shape": e["shape"],
                    "extra": {"a": [-1, 2]},
                    "datatype": e["datatype"],
                    "name": e["name"],
                }
                for e in entries
            ],
            "model_name": "fake",
        }
    text = json.dumps(header).encode()
    if fault == "deep_nesting":
        text = text[:-1] + b', "deep": ' + b"[" * 200 + b"]" * 200 + b"}"
    return text, b"".join(blobs)


def _reply(status: str, body: bytes, headers: dict, length: int | None = -1) -> bytes:
    """One reply; `length` None leaves Content-Length out, -1 makes it the body's."""
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/octet-stream"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if length is not None:
        lines.append(f"Content-Length: {len(body) if length == -1 else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _send(connection, status: str, body: bytes, headers: dict, length: int | None = -1) -> None:
    connection.sendall(_reply(status, body, headers, length))


def _mutate(reply: bytes, limit: int, rng: random.Random) -> bytes:
    """One random byte changed, removed or added in reply[:limit], or the reply cut there."""
    at = rng.randrange(limit)
    byte = bytes([rng.choice(b'0123456789{}[]":,\r\n -' + bytes([rng.randrange(256)]))])
    edits = [
        reply[:at] + byte + reply[at + 1 :],
        reply[:at] + reply[at + 1 :],
        reply[:at] + byte + reply[at:],
        reply[:at],
    ]
    return rng.choice(edits)
