"""Every command in the README runs: each ```sh and ```python block is run as written,
from a scratch directory that mirrors the repository root (so what the commands write
lands there, not in the checkout), with `.venv/bin` first on PATH."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
VENV_BIN = os.path.dirname(sys.executable)

# Lines not run here, each with the reason and where it does run.
NOT_RUN = {
    "./test.sh": "the test suite itself: CI runs it (.ci/run)",
    ".venv/bin/python benchmarks/latency.py            # all zoo models": (
        "every zoo model, about half an hour: the next README line runs the same script "
        "on two models"
    ),
}
# Blocks under these headings make a fresh .venv of their own: no link to the checkout's.
OWN_VENV = {"Install"}


def readme_blocks() -> list[tuple[str, str, str]]:
    """(heading, language, code) of every sh and python block, in order."""
    blocks, heading = [], ""
    for match in re.finditer(r"^(#+) ([^\n]*)$|^```(sh|python)\n(.*?)^```$", _text(), re.M | re.S):
        if match.group(1):
            heading = match.group(2).strip()
        else:
            blocks.append((heading, match.group(3), match.group(4)))
    return blocks


def _text() -> str:
    with open(README) as file:
        return file.read()


def _ids() -> list[str]:
    counts: dict[str, int] = {}
    ids = []
    for heading, language, _ in readme_blocks():
        counts[heading] = counts.get(heading, 0) + 1
        ids.append(f"{heading}-{language}-{counts[heading]}")
    return ids


def _scratch(path, own_venv: bool) -> None:
    """Mirror the repository's top level into `path` by symbolic links."""
    for name in os.listdir(ROOT):
        if name in (".git", "out", "build") or (own_venv and name == ".venv"):
            continue
        os.symlink(os.path.join(ROOT, name), os.path.join(path, name))


def _runnable(code: str) -> str:
    kept = [line for line in code.splitlines() if not line.startswith(tuple(NOT_RUN))]
    return "\n".join(kept) + "\n"


def test_not_run_lines_are_still_in_the_readme():
    text = _text()
    missing = [line for line in NOT_RUN if line not in text]
    assert not missing, f"NOT_RUN names lines the README no longer has: {missing}"


def test_readme_has_commands():
    languages = {language for _, language, _ in readme_blocks()}
    assert languages == {"sh", "python"}


@pytest.mark.slow
@pytest.mark.parametrize("block", readme_blocks(), ids=_ids())
def test_readme_block_runs(block, tmp_path):
    heading, language, code = block
    _scratch(tmp_path, own_venv=heading in OWN_VENV)
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    if language == "sh":
        command = ["bash", "-euxo", "pipefail", "-c", _runnable(code)]
    else:
        command = [sys.executable, "-c", code]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, (
        f"README block under '{heading}' failed:\n{code}\n--- stdout\n{result.stdout[-3000:]}"
        f"\n--- stderr\n{result.stderr[-3000:]}"
    )
