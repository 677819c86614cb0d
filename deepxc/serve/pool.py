"""One slot (a runtime context, or a driver process) per request in flight: a free slot
is reused, else a new one is opened; a slot that broke mid-request is closed, not reused."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from deepxc.errors import RunError


class BrokenSlot(Exception):
    """Raised inside `SlotPool.slot()` when the slot cannot serve again (its message says
    why); the pool closes it and raises a RunError."""


class SlotPool:
    def __init__(self, open_slot: Callable[[], object], close_slot: Callable[[object], None]):
        self._open_slot = open_slot
        self._close_slot = close_slot
        self._free: list = []
        self._open: list = []
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Slots open: at most the most requests that were ever in flight at once."""
        return len(self._open)

    def prepare(self) -> None:
        """Open a first slot now, so that a broken bundle fails at start."""
        with self.slot():
            pass

    @contextlib.contextmanager
    def slot(self):
        with self._lock:
            slot = self._free.pop() if self._free else None
        if slot is None:
            slot = self._open_slot()
            with self._lock:
                self._open.append(slot)
        try:
            yield slot
        except BrokenSlot as broken:
            with self._lock:
                self._open.remove(slot)
            self._close_slot(slot)
            raise RunError(str(broken)) from None
        except BaseException:
            self._release(slot)
            raise
        self._release(slot)

    def _release(self, slot) -> None:
        with self._lock:
            self._free.append(slot)

    def close(self) -> None:
        """Close every slot (no request may be in flight)."""
        with self._lock:
            slots, self._open, self._free = self._open, [], []
        for slot in slots:
            self._close_slot(slot)
