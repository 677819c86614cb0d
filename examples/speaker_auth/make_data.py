"""The speaker-authentication corpus: synthetic utterances split by speaker and by sentence.

    python examples/speaker_auth/make_data.py     # synthesise and print the split's sizes

Speakers are the voices of examples/audio/voices.py: festival voices recorded from real
people and espeak-ng voices. A seeded draw holds out HELD_OUT_FESTIVAL festival voices
and HELD_OUT_ESPEAK espeak-ng voices: they are never seen in training and give the
enrollment, genuine and impostor utterances. The other voices are the training
speakers. Sentences are random word sequences; the held-out speakers read sentences
that no training utterance uses. Every utterance draws its own rate, pitch shift, noise
and gain (the `voices` augmentation). Audio stays in memory.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "audio"))

from voices import FESTIVAL_VOICES, VOICES, Request, Voice, synthesize_all  # noqa: E402
from words import WORDS  # noqa: E402

HELD_OUT_FESTIVAL = 4
HELD_OUT_ESPEAK = 16
TRAIN_UTTERANCES = 40  # per training speaker
CALIBRATION_UTTERANCES = 2  # per training speaker, not trained on
ENROLL = 3  # per held-out speaker
TRIALS = 8  # per held-out speaker, besides the enrollment utterances
TRAIN_SENTENCES = 2400
HELD_OUT_SENTENCES = 400
RATES = (0.85, 1.2)
PITCH_SEMITONES = 1.0


@dataclass(frozen=True)
class Utterance:
    speaker: int  # index into the split's speaker list (train or held-out)
    role: str  # "train", "calibration", "enroll" or "trial"
    request: Request


@dataclass
class Split:
    train_speakers: list[Voice]
    held_out_speakers: list[Voice]
    utterances: list[Utterance]


def split_speakers(seed: int) -> tuple[list[Voice], list[Voice]]:
    """(training, held-out) voices; festival voices are among both."""
    rng = np.random.default_rng(seed)
    festival = list(FESTIVAL_VOICES)
    espeak = [voice for voice in VOICES if voice not in FESTIVAL_VOICES]
    held_festival = set(rng.choice(len(festival), HELD_OUT_FESTIVAL, replace=False).tolist())
    held_espeak = set(rng.choice(len(espeak), HELD_OUT_ESPEAK, replace=False).tolist())
    held = [v for i, v in enumerate(festival) if i in held_festival]
    held += [v for i, v in enumerate(espeak) if i in held_espeak]
    train = [v for i, v in enumerate(festival) if i not in held_festival]
    train += [v for i, v in enumerate(espeak) if i not in held_espeak]
    return train, held


def sentences(count: int, low: int, high: int, rng, taken: set[str]) -> list[str]:
    """`count` distinct word sequences of `low`..`high` words, none in `taken`."""
    out: list[str] = []
    while len(out) < count:
        text = " ".join(rng.choice(WORDS, size=int(rng.integers(low, high + 1))))
        if text not in taken:
            taken.add(text)
            out.append(text)
    return out


def plan(seed: int = 0) -> Split:
    """Every utterance of the corpus, all random draws made up front."""
    train_speakers, held_out = split_speakers(seed)
    rng = np.random.default_rng(seed + 1)
    taken: set[str] = set()
    train_texts = sentences(TRAIN_SENTENCES, 4, 10, rng, taken)
    held_texts = sentences(HELD_OUT_SENTENCES, 4, 6, rng, taken)

    def request(voice: Voice, text: str) -> Request:
        return Request(
            voice,
            text,
            rate=float(rng.uniform(*RATES)),
            pitch=float(rng.uniform(-PITCH_SEMITONES, PITCH_SEMITONES)),
            seed=int(rng.integers(2**31)),
        )

    utterances = []
    per_train = TRAIN_UTTERANCES + CALIBRATION_UTTERANCES
    for speaker, voice in enumerate(train_speakers):
        for k, i in enumerate(rng.choice(len(train_texts), per_train, replace=False)):
            role = "train" if k < TRAIN_UTTERANCES else "calibration"
            utterances.append(Utterance(speaker, role, request(voice, train_texts[i])))
    for speaker, voice in enumerate(held_out):
        for k, i in enumerate(rng.choice(len(held_texts), ENROLL + TRIALS, replace=False)):
            role = "enroll" if k < ENROLL else "trial"
            utterances.append(Utterance(speaker, role, request(voice, held_texts[i])))
    return Split(train_speakers, held_out, utterances)


def synthesize(split: Split, workers: int = 2) -> list[np.ndarray]:
    """The audio of every utterance of `split`, in order (float32, 16 kHz)."""
    start = time.perf_counter()
    audio = synthesize_all([u.request for u in split.utterances], workers)
    seconds = sum(len(a) for a in audio) / 16000
    print(
        f"synthesised {len(audio)} utterances ({seconds / 60:.0f} min of audio) "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return audio


def main() -> int:
    split = plan()
    train_sentences = {u.request.text for u in split.utterances if u.role in ("train",)}
    held_sentences = {u.request.text for u in split.utterances if u.role in ("enroll", "trial")}
    assert not train_sentences & held_sentences
    assert not set(split.train_speakers) & set(split.held_out_speakers)
    for name, voices in (("train", split.train_speakers), ("held-out", split.held_out_speakers)):
        real = sum(voice.real for voice in voices)
        print(f"{name:9} speakers: {len(voices)} ({real} festival)")
    print("held out:", ", ".join(voice.name for voice in split.held_out_speakers))
    for role in ("train", "calibration", "enroll", "trial"):
        print(f"{role:12} {sum(u.role == role for u in split.utterances)} utterances")
    synthesize(split)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
