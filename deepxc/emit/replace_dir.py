"""Replace a directory as a whole: build its successor beside it, then swap the two.

The successor is made in the same parent (so on the same file system) and exchanged with
the old directory in one step: Linux's renameat2(RENAME_EXCHANGE), or, where the kernel or
the file system lacks it, two renames (the old one moved aside, then the new one in). A
reader of the path sees the old directory or the new one, never a mixture; the old one is
removed after the swap.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import sys
import tempfile

AT_FDCWD = -100
RENAME_EXCHANGE = 2


def staging_parent(final: str) -> str:
    """Where the successor of `final` is made: its parent, or the nearest ancestor that
    exists while the parent is still to be created (on the file system `final` will be on)."""
    parent = os.path.dirname(final)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    return parent


def make_staging_dir(final: str) -> str:
    """A new empty directory in `staging_parent(final)`."""
    return tempfile.mkdtemp(prefix=f".{os.path.basename(final)}.", dir=staging_parent(final))


def replace_dir(staging: str, final: str) -> None:
    """Put directory `staging` at the path `final` and remove what was there."""
    if not os.path.lexists(final):
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.rename(staging, final)
        return
    if _exchange(staging, final):
        shutil.rmtree(staging)  # now the old directory
        return
    aside = tempfile.mkdtemp(prefix=f".{os.path.basename(final)}.old.", dir=os.path.dirname(final))
    try:
        os.rename(final, aside)  # onto the empty directory just made
    except OSError:
        os.rmdir(aside)
        raise
    try:
        os.rename(staging, final)
    except OSError:
        os.rename(aside, final)
        raise
    shutil.rmtree(aside)


def _exchange(first: str, second: str) -> bool:
    """Swap two paths atomically; False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:  # a C library older than glibc 2.28
        return False
    result = renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL):  # a kernel or file system without it
        return False
    raise OSError(code, os.strerror(code), second)
