"""Verification trials of the held-out speakers, scored by the shared reference
(`deepxc.demo.verification`).

`trials.npz` holds the windows of every held-out utterance (`verification.
utterance_windows`, in utterance order) with, per window, `speaker` (held-out speaker
index), `utterance` (utterance index, 0.. in order) and `enroll` (whether the utterance
is one of its speaker's enrollment utterances); `names` lists the held-out speakers.

Each speaker's template comes from its enrollment utterances. Every other utterance is
scored against every template: a genuine trial when the speakers match, an impostor
trial otherwise. No held-out speaker was seen in training, so every impostor is too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepxc.demo import verification


@dataclass
class Scores:
    """Scores [trial utterances, speakers] and which of them are genuine."""

    matrix: np.ndarray
    genuine_mask: np.ndarray
    speakers: np.ndarray  # the speaker of each column

    @property
    def genuine(self) -> np.ndarray:
        return self.matrix[self.genuine_mask]

    @property
    def impostor(self) -> np.ndarray:
        return self.matrix[~self.genuine_mask]

    def eer(self) -> tuple[float, float]:
        return verification.equal_error_rate(self.genuine, self.impostor)


def score_trials(
    embeddings: np.ndarray,
    speaker: np.ndarray,
    utterance: np.ndarray,
    enroll: np.ndarray,
    speakers: list[int] | None = None,
) -> Scores:
    """Scores of the trial utterances against the templates, from window embeddings
    [N, D] and the per-window ids of trials.npz; `speakers` limits both to those."""
    ids, first = np.unique(utterance, return_index=True)
    utterance_speaker = dict(zip(ids.tolist(), speaker[first].tolist()))
    utterance_enroll = dict(zip(ids.tolist(), enroll[first].tolist()))
    chosen = np.unique(speaker) if speakers is None else np.asarray(speakers)
    embedded = {
        u: verification.utterance_embedding(embeddings[utterance == u])
        for u in ids.tolist()
        if utterance_speaker[u] in set(chosen.tolist())
    }
    templates = np.stack(
        [
            verification.enroll(
                np.stack(
                    [
                        embedded[u]
                        for u in embedded
                        if utterance_speaker[u] == s and utterance_enroll[u]
                    ]
                )
            )
            for s in chosen
        ]
    )
    tried = [u for u in embedded if not utterance_enroll[u]]
    matrix = np.array(
        [[verification.score(template, embedded[u]) for template in templates] for u in tried]
    )
    genuine = np.array([utterance_speaker[u] for u in tried])[:, None] == chosen[None, :]
    return Scores(matrix, genuine, chosen)


def load(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
