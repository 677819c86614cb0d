"""The demo's routes: the page, the tasks, starting a run (a background job) and polling it.
Every error reaches the visitor as one line of JSON, never a traceback."""

from __future__ import annotations

import os
import re

from flask import Flask, jsonify, render_template, request, send_file
from werkzeug.exceptions import HTTPException

from deepxc.demo import answers, builds
from deepxc.demo.inputs import InputError, decode_image, decode_wav
from deepxc.demo.jobs import Job, Jobs
from deepxc.demo.tasks import Task, find_tasks
from deepxc.errors import DeepxcError, RunError, first_line

MAX_UPLOAD_BYTES = 16 * 1024 * 1024


def create_app(examples: str, cache: str, warn=print) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_BYTES
    tasks = find_tasks(examples, warn)
    jobs = Jobs()

    @app.get("/")
    def index():
        return render_template("index.html", emulated=answers.EMULATED)

    @app.get("/api/tasks")
    def list_tasks():
        return jsonify(
            tasks=[task.to_dict() for task in tasks.values()],
            targets=list(builds.TARGETS),
            levels=list(builds.LEVELS),
            goals=list(builds.GOALS),
        )

    @app.get("/api/tasks/<name>/samples/<path:sample>")
    def sample_file(name: str, sample: str):
        task = _task(tasks, name)
        if sample not in _wav_samples(task):
            raise InputError(f"task {name}: no sample {sample}")
        return send_file(task.sample_path(sample), mimetype="audio/wav")

    @app.post("/api/run")
    def start_run():
        form = request.form
        task = _task(tasks, form.get("task", ""))
        target = _choice("target", form.get("target", "host"), builds.TARGETS)
        goal = _choice("goal", form.get("goal", "none"), builds.GOALS)
        level = _level(form.get("level", "0"))
        model_input, claim, label = _model_input(task, form, request.files.get("file"))
        title = f"{task.name} on {target}, level {level}, goal {goal}: {label}"

        def work(job: Job) -> dict:
            bundle = builds.bundle_for(task, target, goal, cache, job.log)
            return _run(task, bundle, model_input, claim, level, job.log) | {"input": label}

        job = jobs.start(title, work)
        return jsonify(job=job.id, title=title), 202

    @app.get("/api/jobs/<job_id>")
    def job_status(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            return jsonify(error=f"no job {job_id}"), 404
        return jsonify(job.to_dict(int(request.args.get("since", "0") or 0)))

    @app.errorhandler(DeepxcError)
    def user_error(error):
        return jsonify(error=first_line(error)), 400

    @app.errorhandler(HTTPException)
    def http_error(error):
        if error.code == 413:
            message = f"the upload is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"
        else:
            message = f"{error.code} {error.name}: {error.description}"
        return jsonify(error=message), error.code

    @app.errorhandler(Exception)
    def internal_error(error):
        return jsonify(error=f"internal error: {type(error).__name__}: {first_line(error)}"), 500

    return app


def _task(tasks: dict[str, Task], name: str) -> Task:
    if name not in tasks:
        raise InputError(f"no task {name!r}: the tasks are {', '.join(tasks) or 'none'}")
    return tasks[name]


def _choice(what: str, value: str, allowed) -> str:
    if value not in allowed:
        raise InputError(f"{what} {value!r}: expected one of {', '.join(allowed)}")
    return value


def _level(text: str) -> int:
    try:
        level = int(text)
    except ValueError:
        level = -1
    if not 0 <= level < len(builds.LEVELS):
        raise InputError(f"level {text!r}: expected 0 to {len(builds.LEVELS) - 1}")
    return level


def _wav_samples(task: Task) -> list[str]:
    if task.kind == "speaker-auth":
        return [
            f"{s}/{os.path.basename(p)}" for s in task.speakers() for p in task.speaker_files(s)
        ]
    return task.samples() if task.kind == "audio" else []


def _model_input(task: Task, form, upload):
    """(the model's input: an image [H, W] or audio windows [N, F]; the claimed speaker
    (speaker-auth); a label for the page), decoded now so bad input is refused at once."""
    sample = form.get("sample", "")
    if upload is not None and upload.filename:
        data, name = upload.read(), upload.filename
    elif sample:
        if sample not in task.samples():
            raise InputError(f"task {task.name}: no sample {sample!r}")
        data, name = None, sample
    else:
        raise InputError("give an input: a sample, an uploaded file or a recording")
    if task.kind == "image":
        if data is None:
            image = task.test_images()[int(sample.split("/")[1])]
        else:
            image = decode_image(data, task.size, name)
        return image, None, name
    if data is None:
        with open(task.sample_path(sample), "rb") as file:
            data = file.read()
    windows = answers.audio_windows(decode_wav(data, name), task.window, name)
    if task.kind == "audio":
        return windows, None, name
    claim = form.get("claim") or sample.split("/")[0]
    if claim not in task.speakers():
        raise InputError(f"claimed speaker {claim!r}: enrolled are {', '.join(task.speakers())}")
    return windows, claim, name


def _run(task: Task, bundle: str, model_input, claim, level: int, log) -> dict:
    facts = answers.facts(bundle, level)
    result = {"task": task.name, "kind": task.kind, "level": level} | facts
    try:
        answer, latency = _answer(task, bundle, model_input, claim, level, log)
    except RunError as error:
        processors = answers.bundle_processors(bundle)
        if processors <= {"cpu"}:
            raise
        reason = re.sub(r"^.*model exited with -?\d+: ", "", first_line(error))
        log(f"error: {first_line(error)}")
        return result | {
            "answer": None,
            "not_run": f"not run: the plans put blocks on the "
            f"{', '.join(sorted(processors - {'cpu'}))}, which this machine cannot run for "
            f"{facts['target']} ({reason}); goal none runs every layer on the CPU",
        }
    if "scores" in answer:
        ranked = sorted(enumerate(answer["scores"]), key=lambda pair: -pair[1])
        answer["top"] = [
            {"label": _label(task, index), "score": score} for index, score in ranked[: answers.TOP]
        ]
    return result | {"answer": answer, "latency_ms": latency, "latency_runs": answers.BENCH_RUNS}


def _answer(task: Task, bundle: str, model_input, claim, level: int, log):
    if task.kind == "image":
        return answers.classify_image(bundle, model_input, level, log)
    if task.kind == "audio":
        return answers.classify_audio(bundle, model_input, level, log)
    return answers.authenticate(bundle, task, model_input, claim, level, log)


def _label(task: Task, index: int) -> str:
    return task.labels[index] if index < len(task.labels) else str(index)
