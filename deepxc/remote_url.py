"""The remote server's address as users give it (`--remote`, DEEPX_REMOTE):
http://host:port, what the device runtime's client parses too."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from deepxc.errors import DeepxcError


class RemoteUrlError(DeepxcError):
    pass


def check_remote_url(url: str, option: str = "--remote") -> tuple[str, int]:
    """(host, port) of `url`, or a one-line error saying what is wrong with it."""
    parts = urlsplit(url)
    problem = None
    if parts.scheme != "http":
        problem = "give http://host:port (the device speaks plain HTTP)"
    elif not parts.hostname:
        problem = "no host"
    elif parts.path not in ("", "/") or parts.query or parts.fragment:
        problem = "give only http://host:port, no path"
    elif len(parts.hostname) > 63 or not re.fullmatch(r"[A-Za-z0-9.\-:]+", parts.hostname):
        problem = "the host must be a name or an address of at most 63 characters"
    else:
        try:
            port = parts.port
        except ValueError:
            port = -1
        if port is None or not 0 < port < 65536:
            problem = "give the port (1 to 65535): http://host:port"
    if problem:
        raise RemoteUrlError(f"{option} {url}: {problem}")
    return parts.hostname, parts.port
