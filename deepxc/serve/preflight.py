"""What `deepxc serve` needs before Triton starts, each refused in one line: PyTriton
installed, a glibc its wheel runs on, a shared libpython for Triton's Python backend (the
first in LD_LIBRARY_PATH, so the backend's stub loads this interpreter's, not another
Python's of the same soname), and free ports."""

from __future__ import annotations

import importlib.util
import os
import socket
import sysconfig

from deepxc.errors import DeepxcError

MIN_GLIBC = (2, 35)  # nvidia-pytriton 0.7's wheel is manylinux_2_35


class ServeError(DeepxcError):
    """The server cannot start: a missing dependency, an old system, a port in use."""


def check_pytriton() -> None:
    if importlib.util.find_spec("pytriton") is None:
        raise ServeError("PyTriton is not installed: pip install 'deepxc[serve]'")


def check_glibc() -> None:
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
    except (ValueError, OSError, AttributeError):
        raise ServeError("Triton Inference Server needs glibc: this system has none") from None
    found = tuple(int(part) for part in version.split(".")[:2])
    if found < MIN_GLIBC:
        wanted = ".".join(map(str, MIN_GLIBC))
        raise ServeError(
            f"glibc {version} is too old: Triton Inference Server (PyTriton) needs glibc "
            f"{wanted} or newer (Debian 12, Ubuntu 22.04)"
        )


def put_libpython_first() -> None:
    """Triton's Python backend stub links libpython by soname: make it find this one."""
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        raise ServeError(
            "this Python has no shared libpython, which Triton's Python backend needs: "
            "use a Python built with --enable-shared (Debian's, or pyenv with "
            "PYTHON_CONFIGURE_OPTS=--enable-shared)"
        )
    libdir = sysconfig.get_config_var("LIBDIR")
    paths = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p and p != libdir]
    os.environ["LD_LIBRARY_PATH"] = ":".join([libdir, *paths])


def check_ports(host: str, ports: dict[str, int]) -> None:
    """Each port (HTTP, gRPC, metrics) can be bound on `host`."""
    for use, port in ports.items():
        if not 0 < port < 65536:
            raise ServeError(f"{use} port {port}: not a TCP port (1-65535)")
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            # as Triton binds: a port a server just closed (TIME_WAIT) is free again
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise ServeError(
                    f"{host}:{port} ({use}): {exc.strerror or exc}; pick another --port "
                    "(the server takes PORT, PORT+1 and PORT+2)"
                ) from None


def serve_ports(port: int) -> dict[str, int]:
    return {"HTTP": port, "gRPC": port + 1, "metrics": port + 2}
