"""`deepxc serve` and `deepxc export-remote`: a bundle's remote partitions, served or
written out as a Triton model repository."""

from __future__ import annotations

import argparse
import signal

MAX_THREADS = 64  # as deepxc.pipeline.MAX_THREADS, which would import TVM to read
MAX_INSTANCES = 64
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

SERVE_EPILOG = """\
examples:
  deepxc serve bundle/                          # http://127.0.0.1:8000 (gRPC 8001, metrics 8002)
  deepxc serve bundle/ --port 9000 --threads 1  # ports 9000-9002, one thread per request
  deepxc serve bundle/ --instances 2            # two requests of a partition at once
  deepxc serve bundle/ --host 0.0.0.0           # reachable from the device over the network
  curl -s localhost:8000/v2/models/MODEL        # a partition's inputs and outputs

Each remote partition (BUNDLE/remote/MODEL.onnx) is compiled into a host bundle, cached in
$XDG_CACHE_HOME/deepxc/serve/, run in this process, and served under its manifest model
name and version by Triton Inference Server (KServe v2 over HTTP with the binary tensor
extension, and gRPC). The model deepxc_echo returns its input0 (FP32, any length) as
output0, to measure the network. SIGTERM or Ctrl-C stops the server.
"""

EXPORT_EPILOG = """\
examples:
  deepxc export-remote bundle/ -o models/
  tritonserver --model-repository=models/       # a Triton of your own (ONNX Runtime backend)
"""


def add_serve_parsers(sub) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve a bundle's remote partitions (KServe v2, Triton Inference Server)",
        description="Serve every remote partition of BUNDLE over KServe v2 with Triton "
        "Inference Server (PyTriton: pip install 'deepxc[serve]').",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("bundle", metavar="BUNDLE", help="a bundle with remote partitions")
    serve.add_argument(
        "--port", type=int, default=8000, help="HTTP port; gRPC takes PORT+1, metrics PORT+2"
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0: every interface)",
    )
    serve.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="threads each request's kernels use (as `deepxc build --threads`; default: "
        "this machine's cores)",
    )
    serve.add_argument(
        "--target",
        choices=["host", "host-cuda"],
        default="host",
        help="what runs the partitions: this machine's CPU (default), or its NVIDIA GPU "
        "(every layer the GPU path takes; the driver's libcuda must be there)",
    )
    serve.add_argument(
        "--instances",
        type=int,
        default=1,
        metavar="N",
        help="requests each partition serves at once (Triton model instances, about 100 MB "
        "each; default 1)",
    )
    export = sub.add_parser(
        "export-remote",
        help="write a bundle's remote partitions as a Triton model repository",
        description="Write every remote partition of BUNDLE as DIR/MODEL/config.pbtxt and "
        "DIR/MODEL/VERSION/model.onnx, for Triton's ONNX Runtime backend.",
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("bundle", metavar="BUNDLE", help="a bundle with remote partitions")
    export.add_argument("-o", "--output", required=True, metavar="DIR", help="the repository")


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def serve_command(args, progress) -> int:
    # PyTriton stops Triton cleanly on KeyboardInterrupt only; a server started in the
    # background may have SIGINT ignored, and a supervisor stops it with SIGTERM
    saved = {number: signal.signal(number, _interrupt) for number in STOP_SIGNALS}
    try:
        _serve(args, progress)
    except KeyboardInterrupt:  # how the server stops (or its start is cut short): asked for
        pass
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)
    progress("stopped")
    return 0


def _serve(args, progress) -> None:
    from deepxc.serve import preflight
    from deepxc.serve.partitions import remote_partitions

    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:
        raise preflight.ServeError(f"--threads {args.threads}: expected 1..{MAX_THREADS}")
    if not 1 <= args.instances <= MAX_INSTANCES:
        raise preflight.ServeError(f"--instances {args.instances}: expected 1..{MAX_INSTANCES}")
    partitions = remote_partitions(args.bundle)
    preflight.check_pytriton()
    preflight.check_glibc()
    preflight.check_ports(args.host, preflight.serve_ports(args.port))
    preflight.put_libpython_first()

    from deepxc.serve.engines import close_engines, start_engines
    from deepxc.serve.triton_server import serve

    engines = start_engines(partitions, args.threads, progress, args.target)
    try:
        serve(partitions, engines, args.host, args.port, args.instances, _announce)
    finally:
        close_engines(engines)


def export_remote_command(args, progress) -> int:
    from deepxc.serve.model_repository import export_repository
    from deepxc.serve.partitions import remote_partitions

    models = export_repository(remote_partitions(args.bundle), args.output)
    progress(f"wrote {len(models)} model(s) to {args.output}: {', '.join(models)}")
    return 0


def _announce(line: str) -> None:
    print(f"deepxc: {line}", flush=True)
