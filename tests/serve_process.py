"""`deepxc serve BUNDLE` in a process of its own, started and stopped as a user would
(on 127.0.0.1, on free ports), for the tests that need a real KServe v2 server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIMEOUT_S = 180


def free_port() -> int:
    """A port P with P, P+1 and P+2 free on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + 2 >= 65536:
            continue
        try:
            for offset in range(3):
                with socket.socket() as other:
                    other.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
    raise RuntimeError("no three free ports in a row")


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        try:
            out = subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(parent)], capture_output=True, text=True
            ).stdout
        except OSError:
            continue
        for child in map(int, out.split()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


class Server:
    def __init__(self, bundle: str, temp: str, cache: str, launcher: tuple[str, ...] = ()):
        """`launcher` runs the server (e.g. taskset -c 1: a CPU of its own)."""
        self.port = free_port()
        self.temp = temp
        env = dict(os.environ, TMPDIR=temp, XDG_CACHE_HOME=cache, PYTHONPATH=ROOT)
        self.lines: list[str] = []
        self.ready = threading.Event()
        started = time.monotonic()
        self.process = subprocess.Popen(
            [*launcher, sys.executable, "-m", "deepxc.cli.main", "serve", bundle]
            + ["--port", str(self.port)]
            + ["--threads", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,  # so a failed test can stop the whole group
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(START_TIMEOUT_S):
            self.stop()
            raise AssertionError("server not ready:\n" + "".join(self.lines))
        self.start_s = time.monotonic() - started
        self.url = f"127.0.0.1:{self.port}"

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("deepxc: serving "):
                self.ready.set()

    def stop(self) -> None:
        """Stop it as a user would; failing that, its whole process group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    @property
    def http_url(self) -> str:
        return f"http://{self.url}"

    def kill(self) -> None:
        """SIGKILL the server's whole process group: a crash, not a stop."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
