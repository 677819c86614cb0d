"""`deepxc demo`: the web GUI over the examples, served on this machine."""

from __future__ import annotations

import argparse
import os
import socket

from deepxc.errors import DeepxcError

DEMO_EPILOG = """\
examples:
  deepxc demo                                  # http://127.0.0.1:8080/
  deepxc demo --port 9000 --cache /tmp/demo    # another port, builds kept in /tmp/demo
  deepxc demo --examples my_tasks/             # tasks from my_tasks/*/task.json

In the page, pick a task (every EXAMPLES/*/task.json: image, audio or speaker-auth), a
target (ARM targets run under qemu: their times are not the device's), an RLC level and a
DAD goal, and an input: a held-out sample, an uploaded image (PNG/JPEG) or WAV file, or
the microphone. The page shows the answer, the measured latency, memory, MACs, the
level's ranks and the plan. Each task is built once per target and goal, with levels
1.0, 0.5 and 0.25 of its MACs (10-60 s), and kept in the cache. Ctrl-C stops the server.
"""


class DemoError(DeepxcError):
    """The demo cannot start (no examples, port taken, Flask missing)."""


def add_demo_parser(sub) -> None:
    demo = sub.add_parser(
        "demo",
        help="a web page to build and run the example tasks on the targets",
        description="Serve the demo: a local web page where a visitor picks a task, a target,\n"
        "an RLC level and a DAD goal, runs the compiled bundle on a sample, an upload or\n"
        "the microphone, and sees the answer, latency, memory and plan (pip install\n"
        "'deepxc[demo]').",
        epilog=DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080; 0: any)")
    demo.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0: every interface)",
    )
    demo.add_argument(
        "--examples",
        metavar="DIR",
        help="the tasks: DIR/*/task.json (default: the repository's examples/)",
    )
    demo.add_argument(
        "--cache",
        metavar="DIR",
        help="where the built bundles are kept (default: ~/.cache/deepxc/demo)",
    )


def demo_command(args, progress) -> int:
    try:
        from werkzeug.serving import WSGIRequestHandler, make_server

        from deepxc.demo.app import create_app
        from deepxc.demo.builds import default_cache
    except ImportError as error:
        raise DemoError(f"{error.name} is not installed: pip install 'deepxc[demo]'") from None
    examples = args.examples or _repository_examples()
    if not os.path.isdir(examples):
        raise DemoError(f"--examples {examples}: no such directory")
    app = create_app(examples, args.cache or default_cache(), progress)
    _check_port(args.host, args.port)
    try:
        server = make_server(
            args.host, args.port, app, threaded=True, request_handler=_quiet(WSGIRequestHandler)
        )
    except (OSError, SystemExit) as error:
        raise DemoError(f"cannot serve on {args.host}:{args.port}: {error}") from None
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"deepxc: demo at http://{host}:{server.server_port}/ (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    progress("stopped")
    return 0


def _check_port(host: str, port: int) -> None:
    """A port the server cannot bind is one line (werkzeug prints a paragraph and exits)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except (OSError, OverflowError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise DemoError(f"cannot serve on {host}:{port}: {reason} (try another --port)") from None


def _quiet(handler):
    """The request handler without a log line per request (the page polls twice a second)."""

    class Quiet(handler):
        def log_request(self, *args) -> None:
            pass

    return Quiet


def _repository_examples() -> str:
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    examples = os.path.join(here, "examples")
    if not os.path.isdir(examples):
        raise DemoError("no examples/ beside the package: give --examples DIR")
    return examples
