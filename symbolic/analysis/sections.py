"""Sections: repeated passages from a self-similarity matrix of bar features, labelled A, B, A′.

Each bar is described by its duration-weighted pitch classes, its bass pitch classes and its
onset rhythm (onsets per 16th of the bar), each part unit-normalised; bars are compared by
cosine similarity (the self-similarity matrix, Foote 2000). The bars are cut into 4-bar
phrases (after an intro of 0-3 bars, whichever makes them repeat best), and each phrase is
compared bar by bar, along the diagonal of the matrix, with the earlier ones: a phrase that
repeats an earlier one nearly exactly takes its letter, one that repeats it loosely takes the
letter with a prime (A′), any other a new letter; consecutive phrases of one letter make one
section. (Checkerboard-novelty boundaries were tried first: on POP909 they cut mid-phrase and
found no repeats.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symbolic.analysis.notes import Notes, bass_pitches, pitch_class_weights

BLOCK_BARS = 4  # the phrase: pop, hymns and folk tunes are built of 4-bar phrases
MIN_BARS = 8  # fewer bars than two phrases have no sections
SAME, VARIANT = 0.85, 0.7  # bar-by-bar similarity for the same letter, and for a primed letter
_RHYTHM_STEPS = 16


@dataclass(frozen=True)
class Section:
    """Bars ``[first_bar, end_bar)`` from ``start`` to ``end`` seconds, labelled ``label``."""

    start: float
    end: float
    first_bar: int
    end_bar: int
    label: str


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


def bar_features(notes: Notes, edges: np.ndarray) -> np.ndarray:
    """``[bars, 12 + 12 + 16]`` float: pitch classes, bass pitch class, onset rhythm."""
    bars = len(edges) - 1
    chroma = _unit(pitch_class_weights(notes, edges))
    bass = np.zeros((bars, 12))
    lowest = bass_pitches(notes, edges)
    bass[np.flatnonzero(lowest >= 0), lowest[lowest >= 0] % 12] = 1.0
    rhythm = np.zeros((bars, _RHYTHM_STEPS))
    bar = np.clip(np.searchsorted(edges, notes.start, side="right") - 1, 0, bars - 1)
    position = (notes.start - edges[bar]) / np.maximum(np.diff(edges)[bar], 1e-9)
    step = np.clip((position * _RHYTHM_STEPS).astype(int), 0, _RHYTHM_STEPS - 1)
    np.add.at(rhythm, (bar, step), 1.0)
    return np.concatenate([chroma, bass, _unit(rhythm)], axis=1) / np.sqrt(3)


def _diagonal(similarity: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> float:
    """The mean similarity of span ``a``'s bars with ``b``'s, bar by bar from their starts."""
    length = min(a[1] - a[0], b[1] - b[0])
    return float(np.mean([similarity[a[0] + k, b[0] + k] for k in range(length)]))


def phrase_spans(similarity: np.ndarray, block: int = BLOCK_BARS) -> list[tuple[int, int]]:
    """``(first bar, end bar)`` of each phrase: blocks of ``block`` bars after an intro of 0 to
    ``block - 1`` bars, the intro length that makes the phrases repeat best (the mean, over
    phrases, of the best bar-by-bar similarity with an earlier phrase; a song may start on a
    pickup bar)."""
    bars = len(similarity)
    best_spans, best_score = [], -np.inf
    for intro in range(min(block, max(bars - block, 1))):
        spans = [(0, intro)] if intro else []
        spans += [(s, min(s + block, bars)) for s in range(intro, bars, block)]
        repeats = [max(_diagonal(similarity, spans[j], span) for j in range(i))
                   for i, span in enumerate(spans) if i]  # fmt: skip
        score = float(np.mean(repeats)) if repeats else 0.0
        if score > best_score:
            best_spans, best_score = spans, score
    return best_spans


def label_phrases(similarity: np.ndarray, spans: list[tuple[int, int]]) -> list[str]:
    """A letter per phrase: the letter of the most alike earlier unprimed phrase when alike
    (``SAME``), that letter primed when loosely alike (``VARIANT``), else the next new letter."""
    labels: list[str] = []
    letters = 0
    for i, span in enumerate(spans):
        earlier = [(_diagonal(similarity, spans[j], span), j) for j in range(i)
                   if not labels[j].endswith("′")]  # fmt: skip
        best, j = max(earlier, default=(-1.0, None))
        if j is not None and best >= SAME:
            labels.append(labels[j])
        elif j is not None and best >= VARIANT:
            labels.append(labels[j] + "′")
        else:
            labels.append(chr(ord("A") + letters % 26))
            letters += 1
    return labels


def sections(notes: Notes, bar_starts: np.ndarray) -> list[Section]:
    """The sections of the pitched notes over bars starting at ``bar_starts`` ``[bars]``
    float seconds; [] with fewer than two sections' worth of bars."""
    pitched = notes.select(notes.pitched)
    if len(bar_starts) < MIN_BARS or not len(pitched):
        return []
    edges = np.r_[bar_starts, max(pitched.duration, bar_starts[-1] + 1e-3)]
    features = bar_features(pitched, edges)
    similarity = features @ features.T
    out: list[Section] = []
    spans = phrase_spans(similarity)
    for (first, end), label in zip(spans, label_phrases(similarity, spans), strict=True):
        if out and out[-1].label == label:  # a phrase repeated at once stays one section
            first = out.pop().first_bar
        out.append(Section(float(edges[first]), float(edges[end]), first, end, label))
    return out
