"""`deepxc serve`: partitions run in process (against onnxruntime), and the real server on
127.0.0.1 (KServe v2 readiness, metadata, binary-extension inference, SIGTERM)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from remote_bundles import random_feeds, reference, tiny_cnn_bundle
from serve_process import Server, alive, descendants, free_port
from support import has_libcuda

from deepxc.cli.main import main
from deepxc.serve import host_bundle as host_bundle_module
from deepxc.serve.engines import close_engines, start_engines
from deepxc.serve.partitions import remote_partitions
from deepxc.serve.probe import ProbeError, measure_network

MODELS = ["tiny_cnn_p0", "tiny_cnn_p1"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> str:
    return tiny_cnn_bundle(str(tmp_path_factory.mktemp("bundle")))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache of host bundles of this module's own."""
    path = str(tmp_path_factory.mktemp("cache"))
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = path
    yield path
    if saved is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = saved


def test_partitions_run_in_process_as_onnxruntime(bundle, cache):
    partitions = remote_partitions(bundle)
    engines = start_engines(partitions, 1, lambda line: None)
    try:
        for partition in partitions:
            engine = engines[partition.model]
            feeds = [random_feeds(partition.onnx_path, seed) for seed in range(8)]
            with ThreadPoolExecutor(4) as pool:  # requests at once: a context each
                results = list(pool.map(engine.run, feeds))
            for feed, result in zip(feeds, results):
                expected = reference(partition.onnx_path, feed)
                assert sorted(result) == sorted(expected)
                for name, value in expected.items():
                    np.testing.assert_allclose(result[name], value, rtol=1e-5, atol=1e-5)
            assert 1 <= engine.contexts <= 4
    finally:
        close_engines(engines)


def test_kernels_not_position_independent_are_refused(bundle, cache, tmp_path):
    """A kernel object with an absolute address in its code cannot go into the library."""
    from deepxc.serve import shared_library

    built = host_bundle_module.host_bundle(remote_partitions(bundle)[0].onnx_path, 1, print)
    copy = tmp_path / "bundle"
    shutil.copytree(built, copy)
    (copy / shared_library.LIBRARY).unlink(missing_ok=True)
    (copy / "absolute.c").write_text("int table[4];\nint *table_address(void) { return table; }\n")
    subprocess.run(
        ["cc", "-O2", "-fno-pic", "-c", "absolute.c", "-o", "absolute.o"], cwd=copy, check=True
    )
    makefile = (copy / "Makefile").read_text()
    (copy / "Makefile").write_text(makefile.replace("KERNELS = ", "KERNELS = absolute.o ", 1))
    with pytest.raises(shared_library.NotPositionIndependent, match="relocation R_X86_64"):
        shared_library.build_library(str(copy))
    assert not (copy / shared_library.LIBRARY).exists()


def test_driver_fallback_where_kernels_are_not_position_independent(bundle, cache, monkeypatch):
    from deepxc.serve import native, pipe_driver, shared_library

    def refuse(bundle: str) -> str:
        raise shared_library.NotPositionIndependent("relocation R_X86_64_32 against `.rodata'")

    monkeypatch.setattr(native, "build_library", refuse)
    partition = remote_partitions(bundle)[1]  # two outputs
    lines: list[str] = []
    engine = start_engines([partition], 1, lines.append)[partition.model]
    try:
        assert isinstance(engine, pipe_driver.PipePartition)
        assert any("not position independent" in line for line in lines)
        feeds = [random_feeds(partition.onnx_path, seed) for seed in range(6)]
        with ThreadPoolExecutor(3) as pool:  # requests at once: a process each
            results = list(pool.map(engine.run, feeds))
        for feed, result in zip(feeds, results):
            for name, value in reference(partition.onnx_path, feed).items():
                np.testing.assert_allclose(result[name], value, rtol=1e-5, atol=1e-5)
        assert 1 <= engine.contexts <= 3
    finally:
        engine.close()


def test_host_bundles_are_cached_by_content_and_threads(bundle, cache):
    onnx_path = remote_partitions(bundle)[0].onnx_path
    lines: list[str] = []
    first = host_bundle_module.host_bundle(onnx_path, 1, lines.append)
    again: list[str] = []
    assert host_bundle_module.host_bundle(onnx_path, 1, again.append) == first
    assert again == []  # not rebuilt
    assert first.startswith(os.path.join(cache, "deepxc", "serve"))
    with open(onnx_path, "rb") as file:
        data = file.read()
    assert host_bundle_module.cache_key(data, 2) != host_bundle_module.cache_key(data, 1)
    assert host_bundle_module.cache_key(data + b" ", 1) != host_bundle_module.cache_key(data, 1)


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_errors_are_one_line(bundle, tmp_path, capsys, monkeypatch):
    assert "no such bundle" in _error(capsys, ["serve", str(tmp_path / "missing")])
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the command's own, undone
    (tmp_path / "manifest.json").write_text('{"name": "m", "remote": {"partitions": []}}')
    assert "nothing to serve: the plan puts no layer on the remote processor" in _error(
        capsys, ["serve", str(tmp_path)]
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _error(capsys, ["serve", bundle, "--port", str(port)])
        assert f"127.0.0.1:{port} (HTTP)" in line and "--port" in line

    from deepxc.serve import preflight

    # a port a server just closed (its connection in TIME_WAIT) takes a server again
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server closes first: its side waits in TIME_WAIT
        client.close()
    preflight.check_ports("127.0.0.1", {"HTTP": port})

    monkeypatch.setattr(os, "confstr", lambda name: "glibc 2.31")
    assert "glibc 2.31 is too old" in _error(capsys, ["serve", bundle])
    monkeypatch.setattr(preflight.importlib.util, "find_spec", lambda name: None)
    assert "pip install 'deepxc[serve]'" in _error(capsys, ["serve", bundle])


@pytest.fixture(scope="module")
def server(bundle, cache, tmp_path_factory):
    running = Server(bundle, str(tmp_path_factory.mktemp("tmp")), cache)
    try:
        yield running
    finally:
        running.stop()


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://{url}", timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def test_ready_line_and_endpoints(server):
    assert f"serving tiny_cnn_p0, tiny_cnn_p1 (2 partitions) on http://{server.url}" in "".join(
        server.lines
    )
    assert _get(f"{server.url}/v2/health/ready")[0] == 200
    for model in [*MODELS, "deepxc_echo"]:
        assert _get(f"{server.url}/v2/models/{model}/ready")[0] == 200
    assert _get(f"{server.url}/v2/models/no_such_model/ready")[0] != 200


def test_metadata_matches_the_manifest(server, bundle):
    import tritonclient.http as http

    client = http.InferenceServerClient(server.url)
    for partition in remote_partitions(bundle):
        metadata = client.get_model_metadata(partition.model, "1")
        assert metadata["versions"] == ["1"]
        for key, specs in (("inputs", partition.inputs), ("outputs", partition.outputs)):
            assert [(t["name"], t["datatype"], t["shape"]) for t in metadata[key]] == [
                (s.name, s.datatype, list(s.shape)) for s in specs
            ]


def _infer(client, model: str, feeds: dict, outputs: list[str]):
    import tritonclient.http as http

    inputs = []
    for name, value in feeds.items():
        tensor = http.InferInput(name, list(value.shape), "FP32")
        tensor.set_data_from_numpy(value, binary_data=True)
        inputs.append(tensor)
    wanted = [http.InferRequestedOutput(name, binary_data=True) for name in outputs]
    return client.infer(model, inputs, model_version="1", outputs=wanted)


def test_binary_inference_matches_onnxruntime(server, bundle):
    import tritonclient.http as http

    client = http.InferenceServerClient(server.url)
    for partition in remote_partitions(bundle):
        feeds = random_feeds(partition.onnx_path, seed=3)
        expected = reference(partition.onnx_path, feeds)
        result = _infer(client, partition.model, feeds, list(expected))
        for name, value in expected.items():
            got = result.as_numpy(name)
            assert got.dtype == np.float32 and got.shape == value.shape
            np.testing.assert_allclose(got, value, rtol=1e-5, atol=1e-5)
        # the binary extension both ways: outputs come back as raw bytes, not JSON numbers
        assert all("binary_data_size" in o["parameters"] for o in result.get_response()["outputs"])


def test_echo_returns_its_input(server):
    import tritonclient.http as http

    client = http.InferenceServerClient(server.url)
    data = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    result = _infer(client, "deepxc_echo", {"input0": data}, ["output0"])
    assert result.as_numpy("output0").tobytes() == data.tobytes()


def test_network_measured_against_the_server(server):
    measured = measure_network(f"http://{server.url}", samples=10)
    assert 0 < measured["rtt_ms"] < 1000
    assert measured["up_mbps"] == measured["down_mbps"] > 0


class ShapedEcho(http.server.BaseHTTPRequestHandler):
    """A KServe v2 echo (binary extension) behind a link of DELAY_S and MBPS each way."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # its header and body writes must not wait for an ACK
    DELAY_S = 0.010
    MBPS = 100.0

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        header_length = int(self.headers["Inference-Header-Content-Length"])
        request = json.loads(body[:header_length])
        data = body[header_length:]
        time.sleep(self.DELAY_S + len(data) * 8 / (self.MBPS * 1e6))
        reply_header = json.dumps(
            {
                "model_name": "deepxc_echo",
                "outputs": [
                    {
                        "name": request["outputs"][0]["name"],
                        "datatype": "FP32",
                        "shape": request["inputs"][0]["shape"],
                        "parameters": {"binary_data_size": len(data)},
                    }
                ],
            }
        ).encode()
        time.sleep(len(data) * 8 / (self.MBPS * 1e6))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Inference-Header-Content-Length", str(len(reply_header)))
        self.send_header("Content-Length", str(len(reply_header) + len(data)))
        self.end_headers()
        self.wfile.write(reply_header + data)

    def log_message(self, *args):
        pass


def test_network_measure_recovers_a_shaped_link():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ShapedEcho)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        measured = measure_network(f"http://127.0.0.1:{server.server_port}", samples=8)
    finally:
        server.shutdown()
        server.server_close()
    delay_ms = ShapedEcho.DELAY_S * 1e3
    assert delay_ms <= measured["rtt_ms"] < delay_ms + 15
    for direction in ("up_mbps", "down_mbps"):
        assert 0.7 * ShapedEcho.MBPS < measured[direction] < 1.2 * ShapedEcho.MBPS


def test_network_measure_refuses_what_is_not_an_echo(capsys):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(ProbeError, match=f"127.0.0.1:{port}"):
        measure_network(f"http://127.0.0.1:{port}", samples=1)
    with pytest.raises(ProbeError, match="not an http:// URL"):
        measure_network("ftp://example/", samples=1)


def test_leftover_stubs_are_stopped_and_their_folders_removed(tmp_path):
    """What Triton leaves when it exits first: an orphaned stub and its model folder."""
    from deepxc.serve import leftovers

    stub = tmp_path / leftovers.STUB
    (tmp_path / "stub.c").write_text("#include <unistd.h>\nint main(void) { for (;;) pause(); }\n")
    subprocess.run(["cc", str(tmp_path / "stub.c"), "-o", str(stub)], check=True)
    folder = tmp_path / "folderAbC123"
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "model.py").write_text("")
    process = subprocess.Popen([str(stub), str(folder / "1" / "model.py")])
    try:
        found = [s for s in leftovers.python_stubs() if s.pid == process.pid]
        assert len(found) == 1 and found[0].model_folder == str(folder)
        leftovers.remove(found)
        assert process.wait(timeout=10) == -signal.SIGKILL
        assert not folder.exists()
    finally:
        process.kill()
        process.wait()


def _stub_folders(pids: set[int]) -> list[str]:
    """The model folders of the Python backend stubs among `pids`."""
    folders = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                words = file.read().decode().split("\0")
        except OSError:
            continue
        if words[0].endswith("triton_python_backend_stub"):
            folders.append(os.path.dirname(os.path.dirname(words[1])))
    return folders


def test_sigterm_stops_cleanly(server):
    """Last in this file: it stops the module's server."""
    children = descendants(server.process.pid)
    assert children, "Triton runs as a child process"
    folders = _stub_folders(children)
    assert len(folders) == len(MODELS) + 1 and all(os.path.isdir(f) for f in folders)
    assert [n for n in os.listdir(server.temp) if n.startswith("deepxc-serve-")]
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) == 0
    assert time.monotonic() - started < 15
    # the workspace gone (onnxruntime, imported by the CLI, keeps an id of its own in
    # TMPDIR/.ses)
    assert [name for name in os.listdir(server.temp) if name != ".ses"] == []
    deadline = time.monotonic() + 5  # Python's resource trackers exit once their pipe closes
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if alive(pid)]
    assert not [folder for folder in folders if os.path.exists(folder)]
    assert "deepxc: stopped" in "".join(server.lines)


@pytest.mark.skipif(has_libcuda(), reason="a CUDA driver is installed here")
def test_serving_on_a_gpu_without_one_is_a_one_line_error(bundle, cache, capsys):
    """--target host-cuda builds the partitions for the NVIDIA GPU; here there is none."""
    argv = ["serve", bundle, "--target", "host-cuda", "--port", str(free_port())]
    assert main(argv) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "deepx_init failed: no GPU" in errors[0], errors


def test_the_workspace_fits_pytritons_socket_paths(monkeypatch):
    """PyTriton binds a Unix socket per model instance in the workspace: a deep temporary
    directory (a parallel test run's) moves the server's to /tmp, and a name too long for
    any is a one-line error."""
    from deepxc.serve import triton_server
    from deepxc.serve.preflight import ServeError

    monkeypatch.setattr(tempfile, "tempdir", "/tmp/" + "d" * 60)
    assert triton_server._short_parent(["digits_cnn_p0", "deepxc_echo"], 1) == "/tmp"
    monkeypatch.setattr(tempfile, "tempdir", "/tmp/short")
    assert triton_server._short_parent(["digits_cnn_p0", "deepxc_echo"], 1) == "/tmp/short"
    with pytest.raises(ServeError, match="too long for PyTriton's sockets"):
        triton_server._short_parent(["m" * 80], 1)
