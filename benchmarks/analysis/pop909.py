"""POP909 labels and the per-song evaluation of ``symbolic.analysis`` against them.

Labels (read ``../shared/data/pop909/README.md``): ``key_audio.txt`` key regions (the reference
global key is the region that lasts longest), ``chord_midi.txt`` chords (Harte), and
``beat_midi.txt`` with one beat a line and downbeats flagged in the third column.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import mir_eval
import numpy as np
from symusic import Note, Score, Tempo, Track

from symbolic.analysis import analyze
from symbolic.analysis.chords import harmony_notes, harte, recognise
from symbolic.analysis.melody import find_melody
from symbolic.analysis.notes import note_table

POP909 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pop909"


def songs() -> list[Path]:
    """The song folders ``NNN/`` in order."""
    return sorted(p for p in POP909.iterdir() if p.is_dir() and (p / f"{p.name}.mid").is_file())


def _harte_key(text: str) -> str:
    tonic, _, mode = text.strip().partition(":")
    return f"{tonic} {'minor' if mode.startswith('min') else 'major'}"


def reference_key(folder: Path) -> str:
    rows = [line.split("\t") for line in (folder / "key_audio.txt").read_text().split("\n") if line]
    longest = max(rows, key=lambda r: float(r[1]) - float(r[0]))
    return _harte_key(longest[2])


def reference_chords(folder: Path) -> tuple[np.ndarray, list[str]]:
    rows = [
        line.split("\t") for line in (folder / "chord_midi.txt").read_text().split("\n") if line
    ]
    intervals = np.array([[float(a), float(b)] for a, b, _ in rows])
    return intervals, [label.strip() for _, _, label in rows]


def reference_beats(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(folder / "beat_midi.txt", ndmin=2)
    return table[:, 0], table[table[:, 2] == 1, 0]


def key_scores(reference: str, estimate: str) -> tuple[float, float]:
    weighted = mir_eval.key.weighted_score(reference, estimate)
    return weighted, float(weighted == 1.0)  # 1 only for the same key (enharmonics too)


def chord_scores(reference, estimate_edges: np.ndarray, labels: list[str]) -> dict[str, float]:
    """mir_eval root / majmin / sevenths, weighted by duration, of labels per window."""
    ref_intervals, ref_labels = reference
    est_intervals = np.c_[estimate_edges[:-1], estimate_edges[1:]]
    est_intervals, labels = mir_eval.util.adjust_intervals(
        est_intervals,
        labels,
        ref_intervals.min(),
        ref_intervals.max(),
        mir_eval.chord.NO_CHORD,
        mir_eval.chord.NO_CHORD,
    )
    intervals, ref, est = mir_eval.util.merge_labeled_intervals(
        ref_intervals, ref_labels, est_intervals, labels
    )
    durations = mir_eval.util.intervals_to_durations(intervals)
    out = {}
    for name in ("root", "majmin", "sevenths"):
        comparison = getattr(mir_eval.chord, name)(ref, est)
        out[name] = float(mir_eval.chord.weighted_accuracy(comparison, durations))
    return out


def beat_f(reference: np.ndarray, estimate: np.ndarray) -> float:
    """mir_eval's F-measure (70 ms window; both trimmed of their first 5 s, as mir_eval does)."""
    return float(
        mir_eval.beat.f_measure(
            mir_eval.beat.trim_beats(reference), mir_eval.beat.trim_beats(np.asarray(estimate))
        )
    )


def tempo_stripped(score: Score) -> Score:
    """The score rewritten at a constant 120 BPM with every note at its absolute time in
    seconds (ticks = seconds * 2 * tpq): the tempo map tells nothing, beats must come from
    the notes."""
    seconds = score.to("second")
    tpq = score.ticks_per_quarter
    out = Score(tpq)
    out.tempos.append(Tempo(0, 120.0))
    for track in seconds.tracks:
        new = Track(track.name, track.program, track.is_drum)
        n = track.notes.numpy()
        if len(n["time"]):
            start = np.round(n["time"] * 2 * tpq).astype(np.int32)
            end = np.round((n["time"] + n["duration"]) * 2 * tpq).astype(np.int32)
            new.notes = Note.from_numpy(
                start, np.maximum(end - start, 1), n["pitch"], n["velocity"]
            )
        out.tracks.append(new)
    return out


def _without_names(score: Score) -> Score:
    out = score.copy()
    for track in out.tracks:
        track.name = ""
    return out


def evaluate_song(folder: Path) -> dict:
    """Every figure of one song: key, chords (ours on our own beats), beats and downbeats on
    the original and the tempo-stripped file, the melody track with and without names."""
    path = folder / f"{folder.name}.mid"
    score = Score(str(path))
    started = time.perf_counter()
    found = analyze(score, file=str(path))
    elapsed = time.perf_counter() - started
    weighted, exact = key_scores(reference_key(folder), found.key.harte())
    beats, downbeats = reference_beats(folder)
    edges = np.r_[[c.time for c in found.chords], found.chords[-1].end]
    chords = chord_scores(reference_chords(folder), edges, [c.label for c in found.chords])
    with tempfile.TemporaryDirectory() as tmp:  # written and read back, as a user's file
        stripped_path = Path(tmp) / path.name
        tempo_stripped(score).dump_midi(str(stripped_path))
        stripped = analyze(stripped_path)
    melody = find_melody(score)
    blind = find_melody(_without_names(score))
    return {
        "song": folder.name,
        "key_weighted": weighted,
        "key_exact": exact,
        **{f"chord_{k}": v for k, v in chords.items()},
        "beat_f": beat_f(beats, stripped.beats),
        "downbeat_f": beat_f(downbeats, stripped.downbeats),
        "beat_f_tempo_map": beat_f(beats, found.beats),
        "downbeat_f_tempo_map": beat_f(downbeats, found.downbeats),
        "stripped_source": stripped.tempo_source,
        "melody_named": float(melody.name == "MELODY"),
        "melody_unnamed": float(score.tracks[blind.index].name == "MELODY"),
        "seconds": elapsed,
    }


def evaluate_chordify(folder: Path) -> dict:
    """music21 chordify's chords and ours on the same beats (ours) of one song, with times."""
    from benchmarks.analysis.baselines import chordify_labels

    path = folder / f"{folder.name}.mid"
    score = Score(str(path))
    found = analyze(score)
    edges = np.r_[[c.time for c in found.chords], found.chords[-1].end]
    notes = note_table(score)
    started = time.perf_counter()
    theirs = chordify_labels(notes.select(notes.pitched), edges)
    chordify_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ours = [harte(int(v)) for v in recognise(harmony_notes(notes, find_melody(score)), edges)]
    ours_seconds = time.perf_counter() - started
    reference = reference_chords(folder)
    return {
        "song": folder.name,
        **{f"chordify_{k}": v for k, v in chord_scores(reference, edges, theirs).items()},
        **{f"ours_{k}": v for k, v in chord_scores(reference, edges, ours).items()},
        "chordify_seconds": chordify_seconds,
        "ours_seconds": ours_seconds,
    }


def evaluate_music21_key(folder: Path) -> dict:
    from benchmarks.analysis.baselines import music21_key

    score = Score(str(folder / f"{folder.name}.mid"))
    weighted, exact = key_scores(reference_key(folder), music21_key(note_table(score)))
    return {"song": folder.name, "key_weighted": weighted, "key_exact": exact}
