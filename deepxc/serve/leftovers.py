"""What Triton can leave behind when it exits before it has unloaded a model (a stop cut
short, a load that failed): the model's Python backend stub, orphaned, and the folder
Triton copied the model into (/tmp/folderXXXXXX: Triton names it itself, TMPDIR or not).
Found among this process's descendants while serving, removed after Triton stops."""

from __future__ import annotations

import os
import shutil
import signal
from dataclasses import dataclass

STUB = "triton_python_backend_stub"


@dataclass(frozen=True)
class Stub:
    pid: int
    command: tuple[str, ...]

    @property
    def model_folder(self) -> str | None:
        """The folder Triton copied the model into: .../folderXXXXXX/<version>/model.py."""
        if len(self.command) < 2 or not self.command[1].endswith("model.py"):
            return None
        folder = os.path.dirname(os.path.dirname(self.command[1]))
        return folder if os.path.basename(folder).startswith("folder") else None


def _command(pid: int) -> tuple[str, ...]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return tuple(part.decode(errors="replace") for part in file.read().split(b"\0") if part)
    except OSError:
        return ()


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                parent = int(file.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    return children


def python_stubs() -> list[Stub]:
    """The Python backend stubs among this process's descendants."""
    children, found, todo = _children(), [], [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            command = _command(child)
            if command and os.path.basename(command[0]) == STUB:
                found.append(Stub(child, command))
    return found


def remove(stubs: list[Stub]) -> None:
    """Stop the stubs still running (the same command at the same pid) and remove their
    model folders."""
    for stub in stubs:
        if _command(stub.pid) == stub.command:
            try:
                os.kill(stub.pid, signal.SIGKILL)  # orphans: Triton, their parent, is gone
            except OSError:
                pass
        if stub.model_folder:
            shutil.rmtree(stub.model_folder, ignore_errors=True)
