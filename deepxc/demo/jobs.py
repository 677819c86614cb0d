"""Background jobs the page polls: a build and a run, with their log lines as they come."""

from __future__ import annotations

import itertools
import os
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from deepxc.errors import DeepxcError, first_line

MAX_JOBS_KEPT = 200


@dataclass
class Job:
    id: str
    title: str
    state: str = "queued"  # queued, running, done, failed
    lines: list[str] = field(default_factory=list)
    result: dict | None = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)

    def log(self, line: str) -> None:
        self.lines.append(str(line))

    def to_dict(self, since: int = 0) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "state": self.state,
            "lines": self.lines[since:],
            "line_count": len(self.lines),
            "seconds": round(time.monotonic() - self.started, 1),
            "result": self.result,
            "error": self.error,
        }


class Jobs:
    """Runs jobs on a few threads; a job's failure is its one-line error, never the server's."""

    def __init__(self, workers: int = 2):
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="deepxc-demo")
        self._jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self._guard = threading.Lock()

    def start(self, title: str, work: Callable[[Job], dict]) -> Job:
        with self._guard:
            job = Job(str(next(self._ids)), title)
            self._jobs[job.id] = job
            for old in list(self._jobs)[:-MAX_JOBS_KEPT]:
                del self._jobs[old]
        self._pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    @staticmethod
    def _run(job: Job, work: Callable[[Job], dict]) -> None:
        job.state = "running"
        try:
            job.result = work(job)
            job.state = "done"
        except DeepxcError as error:
            job.error = first_line(error)
            job.state = "failed"
        except Exception as error:  # a bug: one line for the visitor, the trace for the log
            if os.environ.get("DEEPXC_DEBUG"):
                traceback.print_exc()
            job.error = f"internal error: {type(error).__name__}: {first_line(error)}"
            job.state = "failed"
        if job.error:
            job.log(f"error: {job.error}")
