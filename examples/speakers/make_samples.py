"""Held-out WAV samples for `deepxc demo`: one new utterance per speaker, drawn with a seed
training never used, cut to at most 1.5 s, written as samples/<voice>_<n>.wav (16 kHz mono
16-bit PCM). Needs espeak-ng."""

from __future__ import annotations

import os
import sys

import numpy as np
from scipy.io import wavfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from make_audio import RATE, SPEAKERS, plan, synthesize_all  # noqa: E402

SEED = 9090  # train.py draws its corpus with seed 0
PER_SPEAKER = 1
MAX_SECONDS = 1.5


def main() -> int:
    out = os.path.join(HERE, "samples")
    os.makedirs(out, exist_ok=True)
    utterances = plan(PER_SPEAKER, SEED)
    for utterance, audio in zip(utterances, synthesize_all(utterances)):
        clipped = np.clip(audio[: int(MAX_SECONDS * RATE)], -1.0, 1.0)
        voice = SPEAKERS[utterance.speaker][0]
        index = sum(1 for name in os.listdir(out) if name.startswith(voice + "_"))
        path = os.path.join(out, f"{voice}_{index}.wav")
        wavfile.write(path, RATE, (clipped * 32767).astype(np.int16))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
