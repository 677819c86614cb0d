"""`deepxc report` and `deepxc build --report`: the page is read back with the stdlib's
HTML parser, and the figures in its tables are held against the bundle's manifest (and
the arena plan against a brute-force check of lifetimes and overlaps), for a plain
bundle, a profiling bundle and a profiling RLC bundle of three levels; the page must load
nothing from anywhere and hold each plot as inline SVG."""

from __future__ import annotations

import json
import os
import re
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from deepxc.cli.main import main
from deepxc.report import render_report
from deepxc.report.sections import top_bars
from deepxc.report.timing import Timing

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
TINY = os.path.join(EXAMPLES, "tiny_cnn", "model.onnx")
DIGITS = os.path.join(EXAMPLES, "digits", "model.onnx")


class Page(HTMLParser):
    """The parts of a page the tests read: tables by id (rows of cell texts), the
    number of <svg> elements, every tag name and every URL-bearing attribute."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.ids: list[str] = []
        self.svgs = 0
        self.tags: set[str] = set()
        self.links: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.text = text
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.add(tag)
        if "id" in attributes:
            self.ids.append(attributes["id"])
        self.svgs += tag == "svg"
        self.links += [v for k, v in attrs if k in ("src", "href", "xlink:href") and v]
        if tag == "table":
            self._table = attributes.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def body(self, table: str) -> list[list[str]]:
        """The table's rows without its header row."""
        rows = self.tables[table]
        return rows[1:] if rows and table != "summary-table" else rows


def _read(path: str) -> Page:
    with open(path, encoding="utf-8") as file:
        return Page(file.read())


def number(text: str) -> int:
    return int(text.replace(",", ""))


def _build(tmp_path_factory, name: str, model: str, *flags: str) -> tuple[str, dict]:
    directory = str(tmp_path_factory.mktemp(name) / "bundle")
    assert main(["build", model, "-o", directory, "--threads", "1", *flags]) == 0
    with open(os.path.join(directory, "manifest.json")) as file:
        return directory, json.load(file)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    directory, manifest = _build(tmp_path_factory, "plain", TINY)
    output = os.path.join(os.path.dirname(directory), "plain.html")
    assert main(["report", directory, "-o", output]) == 0
    return directory, manifest, _read(output)


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    directory, manifest = _build(tmp_path_factory, "profiled", TINY, "--profile", "--report")
    return directory, manifest, _read(os.path.join(directory, "report.html"))


@pytest.fixture(scope="module")
def rlc(tmp_path_factory):
    with np.load(os.path.join(EXAMPLES, "digits", "calibration.npz")) as data:
        small = {name: data[name][:64] for name in data.files}  # a fast plan
    calibration = str(tmp_path_factory.mktemp("calibration") / "cal.npz")
    np.savez(calibration, **small)
    flags = ["--calibration", calibration, "--rlc-levels", "1.0,0.3,0.15", "--profile"]
    directory, manifest = _build(tmp_path_factory, "rlc", DIGITS, *flags, "--rlc-levels-by", "both")
    output = os.path.join(os.path.dirname(directory), "rlc.html")
    assert main(["report", directory, "-o", output]) == 0
    return directory, manifest, _read(output)


BUNDLES = ["plain", "profiled", "rlc"]


@pytest.mark.parametrize("which", BUNDLES)
def test_summary_table_holds_the_manifest_sizes(which, request):
    _, manifest, page = request.getfixturevalue(which)
    summary = dict(page.body("summary-table"))
    sizes = manifest["sizes"]
    assert number(summary["code bytes"]) == sizes["code_bytes"]
    assert number(summary["weights bytes"]) == sizes["weights_bytes"]
    assert number(summary["arena bytes"]) == sizes["arena_bytes"]
    assert number(summary["of which kernel scratch"]) == sizes["workspace_bytes"]
    assert number(summary["MACs"]) == manifest["totals"]["macs"]
    assert number(summary["parameters"]) == manifest["totals"]["params"]
    assert number(summary["kernel calls"]) == len(manifest["kernel_calls"])
    assert number(summary["levels"]) == len(manifest["levels"])
    assert (summary["target"], number(summary["threads"])) == ("host", manifest["threads"])


@pytest.mark.parametrize("which", BUNDLES)
def test_layer_table_holds_each_layers_macs_and_weights(which, request):
    _, manifest, page = request.getfixturevalue(which)
    rows = page.body("layers-table")
    expected = [
        [layer["name"], layer["op"], layer["params"], 4 * layer["params"], layer["macs"]]
        for layer in manifest["layers"]
    ]
    got = [[r[0], r[1], number(r[3]), number(r[4]), number(r[5])] for r in rows]
    assert got == expected
    assert sum(number(r[5]) for r in rows) == manifest["totals"]["macs"]


@pytest.mark.parametrize(
    "which, plots",
    # memory, MACs, weights, then timing, one arena per level, RLC trade-off and ranks
    [("plain", 4), ("profiled", 5), ("rlc", 3 + 1 + 3 + 2)],
)
def test_page_is_self_contained_with_inline_plots(which, plots, request):
    _, _, page = request.getfixturevalue(which)
    assert page.svgs == plots
    assert not page.tags & {"script", "link", "iframe", "object", "embed", "img", "base"}
    assert all(link.startswith("#") for link in page.links), page.links
    assert len(set(page.ids)) == len(page.ids)  # several plots, one page
    assert {link[1:] for link in page.links} <= set(page.ids)
    html = page.text
    assert "http://" not in html and "https://" not in html and "@import" not in html
    assert "url(" not in html.replace("url(#", "")


@pytest.mark.parametrize("which", ["profiled", "rlc"])
def test_profiling_bundle_shows_each_kernel_calls_time(which, request):
    _, manifest, page = request.getfixturevalue(which)
    rows = page.body("timing-table")
    calls = manifest["kernel_calls"]
    assert [(number(r[0]), r[1], r[2]) for r in rows] == [
        (index, call["kernel"], ", ".join(call["layers"])) for index, call in enumerate(calls)
    ]
    times = [float(r[3]) for r in rows]
    assert all(ms >= 0 for ms in times) and sum(times) > 0
    shares = [float(r[4].rstrip("%")) for r in rows]
    assert sum(shares) == pytest.approx(100, abs=0.1 * len(rows))
    assert "no-timing" not in page.ids


def test_emitted_bundle_says_its_code_was_not_compiled(tmp_path_factory):
    """An --emit-only bundle has no measured code size: the page says so, and its other
    figures are the manifest's."""
    directory, manifest = _build(tmp_path_factory, "emitted", TINY, "--emit-only")
    assert manifest["sizes"]["code_bytes"] is None
    output = os.path.join(os.path.dirname(directory), "emitted.html")
    assert main(["report", directory, "-o", output]) == 0
    page = _read(output)
    summary = dict(page.body("summary-table"))
    assert summary["code bytes"] == "not compiled"
    assert number(summary["weights bytes"]) == manifest["sizes"]["weights_bytes"]
    assert number(summary["arena bytes"]) == manifest["sizes"]["arena_bytes"]
    assert "code bytes" in page.text and "not compiled" in page.text.split("summary-table")[0]
    assert page.svgs == 4  # memory (without code), MACs, weights, one arena


def test_plain_bundle_says_no_timing_is_shown(plain):
    _, _, page = plain
    assert "timing-table" not in page.tables and "no-timing" in page.ids


def test_profile_from_file_shows_those_times(plain, tmp_path):
    directory, manifest, _ = plain
    times = [0.5 * (index + 1) for index in range(len(manifest["kernel_calls"]))]
    calls = [{"kernel": c["kernel"], "ms": ms} for c, ms in zip(manifest["kernel_calls"], times)]
    (tmp_path / "times.json").write_text(json.dumps(calls))
    output = tmp_path / "r.html"
    argv = ["report", directory, "-o", str(output), "--profile-from", str(tmp_path / "times.json")]
    assert main(argv) == 0
    rows = Page(output.read_text()).body("timing-table")
    assert [float(r[3]) for r in rows] == times
    shares = [float(r[4].rstrip("%")) for r in rows]
    np.testing.assert_allclose(shares, 100 * np.array(times) / sum(times), atol=0.05)


def test_profile_from_the_drivers_output_on_the_device(profiled, tmp_path):
    """What the bundle's own driver prints with --profile (as it would on the board) is
    read as it is: the report shows those times."""
    directory, manifest, _ = profiled
    runner = [*manifest.get("runner", []), os.path.join(directory, "model")]
    argv = [*runner, "-w", os.path.join(directory, "weights.bin"), "--bench", "3", "--profile"]
    printed = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    (tmp_path / "times.txt").write_text(printed)
    expected = [float(ms) for _, ms in re.findall(r"^profile_ms (\d+) (\S+)$", printed, re.M)]
    assert len(expected) == len(manifest["kernel_calls"])
    output = tmp_path / "r.html"
    argv = ["report", directory, "-o", str(output), "--profile-from", str(tmp_path / "times.txt")]
    assert main(argv) == 0
    rows = Page(output.read_text()).body("timing-table")
    np.testing.assert_allclose([float(r[3]) for r in rows], expected, rtol=1e-3, atol=1e-4)


def test_profile_from_text_without_profile_lines_is_a_one_line_error(plain, tmp_path, capsys):
    directory, _, _ = plain
    (tmp_path / "times.txt").write_text("median_ms=0.1\n")
    argv = ["report", directory, "-o", str(tmp_path / "r.html")]
    assert main(argv + ["--profile-from", str(tmp_path / "times.txt")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "neither JSON" in err and "profile_ms" in err


def test_profile_from_another_build_is_a_one_line_error(plain, tmp_path, capsys):
    directory, manifest, _ = plain
    calls = [{"kernel": "other", "ms": 1.0} for _ in manifest["kernel_calls"]]
    (tmp_path / "times.json").write_text(json.dumps(calls))
    argv = ["report", directory, "-o", str(tmp_path / "r.html")]
    assert main(argv + ["--profile-from", str(tmp_path / "times.json")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "times.json: kernel call 0 is other" in err
    assert not (tmp_path / "r.html").exists()


def _lifetimes(manifest: dict, calls: list[dict]) -> dict[str, tuple[int, int]]:
    """Brute force from the kernel calls: a buffer of the arena is a model input or a
    call's output (its last argument); it lives from its writer to its last reader. The
    models here have one output, the last call's, read after the last call."""
    inputs = [t["name"] for t in manifest["inputs"]]
    written = {call["args"][-1]: step for step, call in enumerate(calls)}
    lifetimes = {}
    for name in inputs + list(written):
        steps = [step for step, call in enumerate(calls) if name in call["args"]]
        first = -1 if name in inputs else written[name]
        lifetimes[name] = (first, max(steps))
    output = calls[-1]["args"][-1]
    lifetimes[output] = (lifetimes[output][0], len(calls))
    return lifetimes


@pytest.mark.parametrize("which", BUNDLES)
def test_arena_plan_is_each_buffers_lifetime_without_overlaps(which, request):
    _, manifest, page = request.getfixturevalue(which)
    for index, level in enumerate(manifest["levels"]):
        calls = level["kernel_calls"]
        plan = level["arena_plan"]
        buffers = {b["tensor"]: b for b in plan["buffers"]}
        assert {n: (b["first"], b["last"]) for n, b in buffers.items()} == _lifetimes(
            manifest, calls
        )
        for spec in manifest["inputs"]:
            assert buffers[spec["name"]]["bytes"] == 4 * int(np.prod(spec["shape"]))
        items = list(buffers.values())
        for a in items:
            assert a["offset"] % 64 == 0 and a["offset"] + a["bytes"] <= plan["workspace"]["offset"]
            for b in items:
                live_together = a["first"] <= b["last"] and b["first"] <= a["last"]
                share_bytes = a["offset"] < b["offset"] + b["bytes"] and b["offset"] < (
                    a["offset"] + a["bytes"]
                )
                assert a is b or not (live_together and share_bytes), (a, b)
        workspace = plan["workspace"]
        assert workspace["offset"] + workspace["bytes"] == level["arena_bytes"]
        rows = page.body(f"arena-table-{index}")[:-1]  # the last row is the scratch space
        assert [(r[0], number(r[1]), number(r[2])) for r in rows] == [
            (b["tensor"], b["offset"], b["bytes"]) for b in plan["buffers"]
        ]


def test_rlc_tables_hold_each_levels_costs_and_ranks(rlc):
    _, manifest, page = rlc
    levels = manifest["levels"]
    rows = page.body("levels-table")
    assert [(number(r[0]), r[1], number(r[2]), number(r[4]), number(r[7])) for r in rows] == [
        (
            k,
            level["rlc"]["budget"],
            level["rlc"]["macs"],
            level["rlc"]["weight_bytes"],
            level["arena_bytes"],
        )
        for k, level in enumerate(levels)
    ]
    medians = [float(r[8]) for r in rows]  # a profiling build: each level is timed
    assert len(medians) == len(levels) and all(ms > 0 for ms in medians)
    ranks = page.body("ranks-table")
    expected = []
    for position, layer in enumerate(levels[0]["rlc"]["layers"]):
        cells = [layer["name"]]
        for level in levels:
            row = level["rlc"]["layers"][position]
            cells.append(
                f"{row['rank']}/{row['full_rank']} {row['form']}" if row["form"] else "kept"
            )
        expected.append(cells)
    assert ranks == expected
    assert any(cell != "kept" for row in ranks for cell in row[2:])  # something is factored


def test_rank_chart_leaves_out_levels_and_layers_that_factor_nothing(rlc):
    html = rlc[2].text
    chart = html[html.index("<svg", html.index('id="rlc"')) :]
    chart = chart[chart.index("<svg", 1) :]  # the second plot of the section: ranks
    chart = chart[: chart.index("</svg>")]
    assert "level 1" in chart and "level 2" in chart and "level 0" not in chart
    assert ">fc2<" not in chart  # the digits plan keeps the small last layer


def test_top_bars_group_the_rest_into_one():
    items = [(f"layer{i}", float(i)) for i in range(20)]
    bars = top_bars(items, top=5)
    assert [(b.label, b.value) for b in bars[:5]] == [
        (f"layer{i}", float(i)) for i in range(19, 14, -1)
    ]
    assert (bars[5].label, bars[5].value) == ("14 others", float(sum(range(1, 15))))
    assert len(bars) == 6  # the zero-cost layer0 is left out


def test_many_layers_chart_shows_the_largest_and_groups_the_rest(plain):
    _, manifest, _ = plain
    many = dict(manifest)
    many["layers"] = [
        {"name": f"dense{i}", "op": "Gemm", "output_shape": [1, 4], "params": i, "macs": 10 * i}
        for i in range(1, 31)
    ]
    many["totals"] = {"layers": 30, "params": sum(range(31)), "macs": 10 * sum(range(31))}
    html = render_report(many, Timing(None, "none"))
    macs = html[html.index("<svg", html.index('id="layers"')) :]
    macs = macs[: macs.index("</svg>")]
    assert ">dense30<" in macs and ">dense19<" in macs and ">dense18<" not in macs
    assert ">18 others<" in macs


def test_report_in_the_bundle_is_listed_so_a_rebuild_replaces_it(tmp_path):
    bundle = str(tmp_path / "b")
    assert main(["build", TINY, "-o", bundle, "--threads", "1"]) == 0
    assert main(["report", bundle]) == 0  # default: BUNDLE/report.html
    with open(os.path.join(bundle, "manifest.json")) as file:
        assert "report.html" in json.load(file)["files"]
    assert main(["build", TINY, "-o", bundle, "--threads", "1"]) == 0  # not refused
    assert not os.path.exists(os.path.join(bundle, "report.html"))


def test_manifest_without_an_arena_plan_says_so(plain):
    _, manifest, _ = plain
    older = json.loads(json.dumps(manifest))
    for level in older["levels"]:
        del level["arena_plan"]
    page = Page(render_report(older, Timing(None, "none")))
    assert page.svgs == 3 and not any(t.startswith("arena-table") for t in page.tables)
    assert "has no arena plan" in page.text
