"""The demo's tasks: every `examples/*/task.json` (the contract the examples follow), with
their held-out samples."""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field

import numpy as np

from deepxc.errors import InputFileError

KINDS = ("image", "audio", "speaker-auth")
IMAGE_SAMPLES = 12  # test examples offered per image task


@dataclass
class Task:
    name: str  # the example's folder name
    folder: str
    title: str
    kind: str
    model: str  # path of the ONNX file
    about: str = ""
    labels: list[str] = field(default_factory=list)
    window: int = 0
    size: tuple[int, int] = (0, 0)
    threshold: float = 0.0
    enroll: int = 0
    test: str | None = None
    calibration: str | None = None
    _test_images: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def path(self, relative: str | None) -> str | None:
        return os.path.join(self.folder, relative) if relative else None

    def samples(self) -> list[str]:
        """The held-out inputs a visitor may pick: "test/I" (image: example I of test.npz),
        "FILE.wav" (audio) or "SPEAKER/FILE.wav" (speaker-auth: the trial files)."""
        if self.kind == "image":
            count = min(IMAGE_SAMPLES, len(self.test_images())) if self.test else 0
            return [f"test/{index}" for index in range(count)]
        if self.kind == "audio":
            return sorted(os.path.basename(p) for p in glob.glob(self.sample_path("*.wav")))
        return [
            f"{speaker}/{os.path.basename(path)}"
            for speaker in self.speakers()
            for path in self.speaker_files(speaker)[self.enroll :]
        ]

    def sample_path(self, sample: str) -> str:
        return os.path.join(self.folder, "samples", sample)

    def speakers(self) -> list[str]:
        """Speaker-auth: the enrolled speakers (folders of samples/)."""
        root = os.path.join(self.folder, "samples")
        if not os.path.isdir(root):
            return []
        return sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)))

    def speaker_files(self, speaker: str) -> list[str]:
        """A speaker's WAV files sorted by name: the first `enroll` enroll them."""
        return sorted(glob.glob(os.path.join(self.folder, "samples", speaker, "*.wav")))

    def test_images(self) -> np.ndarray:
        """The test examples as [N, H, W] float32 (test.npz's `input`), read once."""
        if self._test_images is None:
            with np.load(self.path(self.test)) as data:
                images = data["input"]
            self._test_images = images.reshape(len(images), *self.size).astype(np.float32)
        return self._test_images

    def to_dict(self) -> dict:
        info = {
            "name": self.name,
            "title": self.title,
            "kind": self.kind,
            "about": self.about,
            "labels": self.labels,
            "samples": self.samples(),
        }
        if self.kind == "image":
            info["size"] = list(self.size)
            images = self.test_images()[: len(info["samples"])] if self.test else []
            info["pixels"] = [np.round(image.astype(np.float64), 3).tolist() for image in images]
        if self.kind == "speaker-auth":
            info.update(threshold=self.threshold, enroll=self.enroll, speakers=self.speakers())
        return info


def read_task(path: str) -> Task:
    """One task.json; a broken one is an InputFileError naming the file and the field."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        with open(path) as file:
            data = json.load(file)
    except (OSError, ValueError) as error:
        raise InputFileError(f"{path}: not a readable JSON file ({error})") from None
    kind = data.get("kind")
    if kind not in KINDS:
        raise InputFileError(f"{path}: kind {kind!r}: expected one of {', '.join(KINDS)}")
    try:
        task = Task(
            name=os.path.basename(folder),
            folder=folder,
            title=str(data.get("title", os.path.basename(folder))),
            kind=kind,
            model=os.path.join(folder, data.get("model", "model.onnx")),
            about=str(data.get("about", "")),
            labels=[str(label) for label in data.get("labels", [])],
            window=int(data.get("window", 0)),
            size=tuple(int(v) for v in data.get("image", {}).get("size", (0, 0))),
            threshold=float(data.get("threshold", 0.0)),
            enroll=int(data.get("enroll", 0)),
            test=data.get("test"),
            calibration=data.get("calibration"),
        )
    except (TypeError, ValueError, AttributeError) as error:
        raise InputFileError(f"{path}: a field has the wrong type ({error})") from None
    _check(task, path)
    return task


def _check(task: Task, path: str) -> None:
    if not os.path.isfile(task.model):
        raise InputFileError(f"{path}: model {task.model} does not exist")
    if task.kind in ("image", "audio") and not task.labels:
        raise InputFileError(f"{path}: kind {task.kind} needs 'labels'")
    if task.kind in ("audio", "speaker-auth") and task.window <= 0:
        raise InputFileError(f"{path}: kind {task.kind} needs 'window' (frames per input) > 0")
    if task.kind == "image" and min(task.size) <= 0:
        raise InputFileError(f"{path}: kind image needs 'image': {{'size': [H, W]}}")
    if task.kind == "speaker-auth" and task.enroll <= 0:
        raise InputFileError(f"{path}: kind speaker-auth needs 'enroll' (files per speaker) > 0")
    for name in (task.test, task.calibration):
        if name and not os.path.isfile(task.path(name)):
            raise InputFileError(f"{path}: {name} does not exist")


def find_tasks(examples: str, warn=print) -> dict[str, Task]:
    """Every examples/*/task.json by folder name; a broken one is skipped and said."""
    tasks = {}
    for path in sorted(glob.glob(os.path.join(examples, "*", "task.json"))):
        try:
            task = read_task(path)
        except InputFileError as error:
            warn(f"skipped: {error}")
            continue
        tasks[task.name] = task
    return tasks
