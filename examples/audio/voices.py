"""Voices for synthetic speech corpora: festival voices built from recordings of real
people and espeak-ng voices with variants and base pitches, synthesised in memory to
float32 at 16 kHz with rate, pitch, noise and gain augmentation.

    from voices import VOICES, Request, synthesize, synthesize_all
    audio = synthesize(VOICES[0], "open the door", rate=1.1, pitch=-1.0, seed=3)

`rate` is a speaking-rate factor (1.0 natural, 1.2 = 20% faster), `pitch` a shift in
semitones. How each engine applies them:

- espeak-ng: `-s` words per minute (175 * rate) and `-p` base pitch plus 6 units per
  semitone (espeak-ng's pitch scale is 0-99, 50 its default; measured on en+m1, de+m4
  and en+f3, 10 units raise the median pitch by 8-12% between 30 and 80).
- festival: pitch by resampling the output (which also shortens it; the rate makes up
  for that); rate through `Duration_Stretch` (diphone voices: English, Italian,
  Finnish; the Czech voices) or hts_engine's speed `-r` (HTS voices:
  `cmu_us_slt_arctic_hts`, `upc_ca_ona_hts`). The cluster-unit voice
  (`msu_ru_nsh_clunits`) keeps its own rate, so its pitch shift also changes its length.

With a `seed`, white noise at a random SNR and a random gain are added (ranges
`snr_db` and `gain_db`); without one the audio is clean. Temporary files (festival
writes its waves to a directory) are deleted before a call returns. Needs espeak-ng and
festival with its voices installed (`check` says which of a list work here).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import wave
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from scipy.signal import resample_poly

RATE = 16000
ESPEAK_WPM = 175
ESPEAK_UNITS_PER_SEMITONE = 6.0
FESTIVAL_BATCH = 24  # utterances per festival process


@dataclass(frozen=True)
class Voice:
    """One speaker: `engine` "espeak" or "festival", `voice` the engine's voice name
    (espeak: language+variant; festival: the name after `voice_`), `pitch` espeak-ng's
    base pitch (0-99; festival: unused), `language` an ISO code, `real` whether the
    engine speaks from recordings of a real person."""

    name: str
    engine: str
    voice: str
    language: str
    pitch: int = 50
    real: bool = False


def _festival(voice: str, language: str) -> Voice:
    return Voice(f"festival-{voice}", "festival", voice, language, real=True)


FESTIVAL_VOICES = [
    _festival("kal_diphone", "en"),
    _festival("ked_diphone", "en"),
    _festival("cmu_us_slt_arctic_hts", "en"),
    _festival("czech_dita", "cs"),
    _festival("czech_krb", "cs"),
    _festival("czech_machac", "cs"),
    _festival("czech_ph", "cs"),
    _festival("lp_diphone", "it"),
    _festival("pc_diphone", "it"),
    _festival("suo_fi_lj_diphone", "fi"),
    _festival("hy_fi_mv_diphone", "fi"),
    _festival("msu_ru_nsh_clunits", "ru"),
    _festival("upc_ca_ona_hts", "ca"),
]
_HTS = {"cmu_us_slt_arctic_hts", "upc_ca_ona_hts"}

ESPEAK_LANGUAGES = [
    "en", "en-us", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us-nyc",
    "de", "fr-fr", "es", "it", "nl", "pl", "sv", "pt",
]  # fmt: skip
MALE_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]
FEMALE_VARIANTS = ["f1", "f2", "f3", "f4", "f5"]
NAMED_VARIANTS = ["adam", "Andy", "anika", "grandma", "john", "linda", "max", "steph", "zac"]
MALE_PITCHES = [30, 38, 46, 54]
FEMALE_PITCHES = [50, 58, 66, 74]


def _espeak_voices() -> list[Voice]:
    """Every variant in several languages, each with its own base pitch: the language
    and pitch of a variant's k-th voice step through the lists so that voices sharing a
    variant differ in both."""
    voices = []
    variants = [(v, MALE_PITCHES) for v in MALE_VARIANTS]
    variants += [(v, FEMALE_PITCHES) for v in FEMALE_VARIANTS]
    variants += [
        (v, MALE_PITCHES if i % 2 else FEMALE_PITCHES) for i, v in enumerate(NAMED_VARIANTS)
    ]
    for i, (variant, pitches) in enumerate(variants):
        for k in range(len(pitches)):
            language = ESPEAK_LANGUAGES[(i * 5 + k * 3) % len(ESPEAK_LANGUAGES)]
            pitch = pitches[(i + k) % len(pitches)]
            voice = f"{language}+{variant}"
            voices.append(Voice(f"espeak-{voice}-p{pitch}", "espeak", voice, language[:2], pitch))
    return voices


ESPEAK_VOICES = _espeak_voices()
VOICES = FESTIVAL_VOICES + ESPEAK_VOICES


@dataclass(frozen=True)
class Request:
    """One utterance to synthesise: arguments of `synthesize`."""

    voice: Voice
    text: str
    rate: float = 1.0
    pitch: float = 0.0
    seed: int | None = None
    snr_db: tuple[float, float] = field(default=(10.0, 30.0))
    gain_db: tuple[float, float] = field(default=(-12.0, 6.0))


class SynthesisError(RuntimeError):
    """An engine failed or is missing."""


def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """(float samples in [-1, 1], rate) of a mono 16-bit RIFF wave; tolerates the unset
    size fields espeak-ng writes to a pipe."""
    rate = int.from_bytes(data[24:28], "little")
    start = data.find(b"data") + 8
    body = data[start : start + (len(data) - start) // 2 * 2]
    return np.frombuffer(body, dtype="<i2") / 32768.0, rate


def _resample(samples: np.ndarray, source: int, target: int) -> np.ndarray:
    divisor = np.gcd(source, target)
    return resample_poly(samples, target // divisor, source // divisor)


def _shift_pitch(samples: np.ndarray, semitones: float) -> np.ndarray:
    """Raise the pitch by resampling (also shortens by the same factor)."""
    if abs(semitones) < 1e-6:
        return samples
    factor = 2.0 ** (semitones / 12.0)
    up = 1000
    return resample_poly(samples, up, int(round(up * factor)))


def _espeak(request: Request) -> np.ndarray:
    voice = request.voice
    pitch = int(np.clip(round(voice.pitch + ESPEAK_UNITS_PER_SEMITONE * request.pitch), 0, 99))
    command = ["espeak-ng", "-v", voice.voice, "-p", str(pitch)]
    command += ["-s", str(int(round(ESPEAK_WPM * request.rate))), "--stdout", request.text]
    result = subprocess.run(command, capture_output=True)
    if result.returncode != 0 or len(result.stdout) <= 44:
        message = result.stderr.decode(errors="replace").strip()
        raise SynthesisError(f"espeak-ng voice {voice.voice}: {message or 'no audio'}")
    samples, rate = _read_wav(result.stdout)
    return _resample(samples, rate, RATE)


def _scheme_text(text: str) -> str:
    return re.sub(r'["\\]', " ", text)


def _festival_script(requests: list[Request], directory: str) -> str:
    voice = requests[0].voice.voice
    lines = [f"(voice_{voice})"]
    if voice in _HTS:
        lines.append("(set! base_hts_params hts_engine_params)")
    for i, request in enumerate(requests):
        # The pitch shift resamples the output, which shortens it by `factor`.
        factor = 2.0 ** (request.pitch / 12.0)
        if voice in _HTS:
            speed = request.rate / factor
            params = f'(list (list "-r" {speed:.4f}))'
            lines.append(f"(set! hts_engine_params (append base_hts_params {params}))")
        else:
            lines.append(f"(Parameter.set 'Duration_Stretch {factor / request.rate:.4f})")
        path = os.path.join(directory, f"{i}.wav")
        lines += [
            f'(set! utt (utt.synth (Utterance Text "{_scheme_text(request.text)}")))',
            f"(utt.wave.resample utt {RATE})",
            f'(utt.save.wave utt "{path}" \'riff)',
        ]
    return "\n".join(lines) + "\n"


def _festival_batch(requests: list[Request]) -> list[np.ndarray]:
    """One festival process for several utterances of one voice."""
    voice = requests[0].voice.voice
    with tempfile.TemporaryDirectory(prefix="voices-") as directory:
        script = os.path.join(directory, "synth.scm")
        with open(script, "w") as handle:
            handle.write(_festival_script(requests, directory))
        result = subprocess.run(["festival", "-b", script], capture_output=True)
        out = []
        for i, request in enumerate(requests):
            path = os.path.join(directory, f"{i}.wav")
            if result.returncode != 0 or not os.path.exists(path):
                message = result.stderr.decode(errors="replace").strip().splitlines()
                reason = message[-1] if message else "no audio"
                raise SynthesisError(f"festival voice {voice}: {reason}")
            with wave.open(path) as handle:
                rate = handle.getframerate()
                frames = handle.readframes(handle.getnframes())
            samples = np.frombuffer(frames, dtype="<i2") / 32768.0
            samples = _shift_pitch(_resample(samples, rate, RATE), request.pitch)
            out.append(samples)
        return out


def _augment(samples: np.ndarray, request: Request) -> np.ndarray:
    if request.seed is None:
        return samples.astype(np.float32)
    rng = np.random.default_rng(request.seed)
    snr_db = rng.uniform(*request.snr_db)
    gain_db = rng.uniform(*request.gain_db)
    noise_power = np.mean(samples**2) / 10.0 ** (snr_db / 10.0)
    noisy = samples + rng.standard_normal(len(samples)) * np.sqrt(noise_power)
    return (noisy * 10.0 ** (gain_db / 20.0)).astype(np.float32)


def _raw(requests: list[Request], missing_ok: bool) -> list[np.ndarray | None]:
    """The requests' audio; with `missing_ok`, None for a request the engine fails on.
    festival crashes on a few combinations of voice, text and rate (lp_diphone reading
    "no" 26% fast), so a failed batch is spoken again one request at a time."""
    try:
        if requests[0].voice.engine == "festival":
            return list(_festival_batch(requests))
        return [_espeak(request) for request in requests]
    except SynthesisError:
        if not missing_ok:
            raise
        if len(requests) == 1:
            return [None]
        return [_raw([request], missing_ok)[0] for request in requests]


def synthesize(
    voice: Voice,
    text: str,
    rate: float = 1.0,
    pitch: float = 0.0,
    seed: int | None = None,
    snr_db: tuple[float, float] = (10.0, 30.0),
    gain_db: tuple[float, float] = (-12.0, 6.0),
) -> np.ndarray:
    """`text` spoken by `voice` as float32 samples at 16 kHz (see the module docstring)."""
    request = Request(voice, text, rate, pitch, seed, snr_db, gain_db)
    return synthesize_all([request], workers=1)[0]


def _require(engines: set[str]) -> None:
    for engine, program in (("espeak", "espeak-ng"), ("festival", "festival")):
        if engine in engines and shutil.which(program) is None:
            raise SynthesisError(f"{program} not found: apt-get install {program}")


def synthesize_all(
    requests: list[Request], workers: int = 2, missing_ok: bool = False
) -> list[np.ndarray]:
    """Every request's audio, in order, made on `workers` threads; festival requests of
    one voice share a process, up to FESTIVAL_BATCH at a time. A request the engine
    fails on raises SynthesisError, or with `missing_ok` gives None."""
    _require({request.voice.engine for request in requests})
    jobs: list[list[int]] = []
    by_voice: dict[Voice, list[int]] = defaultdict(list)
    for i, request in enumerate(requests):
        if request.voice.engine == "festival":
            by_voice[request.voice].append(i)
        else:
            jobs.append([i])
    for indices in by_voice.values():
        jobs += [indices[s : s + FESTIVAL_BATCH] for s in range(0, len(indices), FESTIVAL_BATCH)]
    jobs.sort(key=len, reverse=True)  # long festival batches first
    out: list[np.ndarray | None] = [None] * len(requests)
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda job: _raw([requests[i] for i in job], missing_ok), jobs)
        for job, raw in zip(jobs, results):
            for i, samples in zip(job, raw):
                out[i] = None if samples is None else _augment(samples, requests[i])
    return out  # type: ignore[return-value]


@cache
def works(voice: Voice) -> bool:
    """Whether `voice` speaks a short test sentence on this machine."""
    try:
        return len(synthesize(voice, "one two three")) > RATE // 4
    except SynthesisError:
        return False


def check(voices: list[Voice], workers: int = 2) -> list[Voice]:
    """The voices of `voices` that work here, in order."""
    with ThreadPoolExecutor(workers) as pool:
        ok = list(pool.map(works, voices))
    return [voice for voice, good in zip(voices, ok) if good]


if __name__ == "__main__":
    import time

    start = time.perf_counter()
    good = check(VOICES)
    failed = [voice.name for voice in VOICES if voice not in good]
    print(f"{len(good)} of {len(VOICES)} voices work ({time.perf_counter() - start:.1f} s)")
    for name in failed:
        print(f"  fails: {name}")
