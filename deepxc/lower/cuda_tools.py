"""Files of NVIDIA's CUDA compiler that GPU lowering and its checks use: libdevice (the
math library LLVM links into PTX) and ptxas (NVIDIA's PTX assembler).

They come from PyPI's `nvidia-cuda-nvcc-cu11` (CUDA 11.8, the last whose ptxas takes the
Kepler sm_35, the closest to the Tegra K1's sm_32 any installable ptxas assembles for),
else from a CUDA toolkit under $CUDA_PATH or $CUDA_HOME.
"""

from __future__ import annotations

import importlib.util
import os

LIBDEVICE = os.path.join("nvvm", "libdevice", "libdevice.10.bc")
PTXAS = os.path.join("bin", "ptxas")
WHEEL = "nvidia-cuda-nvcc-cu11"


def cuda_roots() -> list[str]:
    """Where CUDA's files are looked for, first match wins."""
    roots = []
    spec = importlib.util.find_spec("nvidia.cuda_nvcc") if _has_nvidia() else None
    if spec is not None and spec.submodule_search_locations:
        roots.extend(spec.submodule_search_locations)
    roots.extend(os.environ[name] for name in ("CUDA_PATH", "CUDA_HOME") if os.environ.get(name))
    return roots


def find_cuda_file(relative: str) -> str | None:
    """The path of `relative` (LIBDEVICE, PTXAS) under the first root holding it."""
    for root in cuda_roots():
        path = os.path.join(root, relative)
        if os.path.isfile(path):
            return path
    return None


def _has_nvidia() -> bool:
    return importlib.util.find_spec("nvidia") is not None
