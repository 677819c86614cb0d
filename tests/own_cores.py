"""A copy of the `host-opencl` target whose GPU has cores of its own: the target file puts
pocl in the CPU's serial group (it runs on the CPU's cores), so plans never overlap the
two and the runtime waits for each GPU partition at once. Tests of overlapping work, and
of plans that cut a model between the processors, build for this copy instead (still on
pocl)."""

from __future__ import annotations

import re
from pathlib import Path

from deepxc.targets import TARGETS_DIR


def opencl_target_with_own_gpu(directory: Path, fast: bool = False) -> str:
    """The path of the copy, written into `directory`. `fast`: the GPU also costs what
    the CPU does and the link next to nothing, so that plans use both processors."""
    text = (TARGETS_DIR / "host-opencl.toml").read_text()
    text = text.replace('name = "host-opencl"', 'name = "host-opencl-own-gpu"', 1)
    assert '\ngroup = "cpu"' in text
    text = text.replace('\ngroup = "cpu"', "\n")
    if fast:
        cpu, gpu = text.split('name = "gpu"', 1)
        for section in re.findall(r"(\[processors\.cost\.\w+\]\n(?:\w+ = [^\n]*\n)+)", cpu):
            head = section.split("\n", 1)[0]
            gpu = re.sub(re.escape(head) + r"\n(?:\w+ = [^\n]*\n)+", section, gpu, count=1)
        gpu = re.sub(r"latency_us = [0-9.]+", "latency_us = 0.1", gpu)
        text = cpu + 'name = "gpu"' + gpu
    path = Path(directory) / ("host-opencl-fast-gpu.toml" if fast else "host-opencl-own-gpu.toml")
    path.write_text(text)
    return str(path)
