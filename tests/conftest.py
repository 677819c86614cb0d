import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
# deepxc's own compile of every bundle the tests build treats a warning as an error (the
# generated Makefile and CMakeLists.txt do not force -Werror on their users).
os.environ.setdefault("DEEPXC_EXTRA_CFLAGS", "-Werror")


@pytest.fixture(scope="session")
def ptxas() -> str:
    """NVIDIA's PTX assembler (CUDA 11.8's), or the test is skipped saying how to get it."""
    from deepxc.lower.cuda_tools import PTXAS, WHEEL, find_cuda_file

    path = find_cuda_file(PTXAS)
    if path is None:
        pytest.skip(f"ptxas not found: pip install {WHEEL} (the test extra)")
    return path
