"""Fidelity: what a real folder keeps through prepare's path (load -> REMI tokens -> decode ->
DAW-ready MIDI), per data set: POP909 (a real user's multi-track folder), a folk set written
from music21's corpus (O'Neill's 1850 and the Essen collection, ABC -> MIDI: compound meters),
and the Bach chorales (MusicXML through music21, one track per voice).

For every work: notes in (the Score `prepare` tokenizes, as `load_work` reads it, taken as one
MIDI channel per track sounds it: see `soundable`) and notes out (the MIDI file written from its
tokens, read back); onsets within 1/24 beat of an input note of
the same pitch; durations within half the tokenizer's duration step of the input's (the step of
its Duration bins, in beats of the meter's denominator: for the presets 1/12 beat up to 4 beats,
1/4 beat up to 12, one beat up to 24); non-empty tracks in and out; the melody view's
track against the known melody (POP909's MELODY, the chorales' soprano, the folk tune's only
track); the meters kept, rewritten (3/2 as 6/4) or lost. `leaks` is the manifest check on
POP909 laid out with a `versions/` copy of every song and `--group-by top`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from symusic import Score

from benchmarks.common import REPO_ROOT, command_line, environment, markdown_table, write_results
from benchmarks.fidelity import downbeats
from symbolic import tokenization
from symbolic.data import manifest as mf
from symbolic.data import views
from symbolic.data.meta import DataMeta, SpecialIds
from symbolic.data.prepare import load_work
from symbolic.output.midi import clean_track, save_daw_midi
from symbolic.tracks import track_table

OUT_DIR = Path(__file__).resolve().parent
POP909 = REPO_ROOT.parent / "shared" / "data" / "pop909"
BACH_MANIFEST = REPO_ROOT / "data_manifests" / "bach_chorales.json"
FOLK_FILES = ("oneills1850/0001-0050.abc", "essenFolksong/altdeu10.abc")
ONSET_TOLERANCE = 1 / 24  # quarter notes
PIANO_RANGE = (21, 108)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fidelity")
    parser.add_argument("--quick", action="store_true", help="30 works per set")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument(
        "--only-downbeats",
        action="store_true",
        help="measure POP909's downbeat alignment alone and merge it into --out's results",
    )
    return parser.parse_args()


def full_meta(tokenizer) -> DataMeta:
    """The meta of a full-view data set of this tokenizer (what `prepare` writes)."""
    special = SpecialIds.from_json(tokenization.special_ids(tokenizer))
    return DataMeta(len(tokenizer.vocab), special, tokenization.tokenizer_hash(tokenizer))


def notes_of(score: Score) -> list[tuple[int, float, float, bool]]:
    """(pitch, onset, duration, drum) of every note, in quarter notes."""
    tpq = score.ticks_per_quarter
    return [
        (n.pitch, n.time / tpq, n.duration / tpq, track.is_drum)
        for track in score.tracks
        for n in track.notes
    ]


def duration_step(tokenizer, beats: float) -> float:
    """The tokenizer's duration resolution, in beats, for a note of ``beats``: the step of its
    nearest Duration bin (MidiTok's ``(beat, position, positions per beat)`` tuples)."""
    bins = np.array([beat + pos / res for beat, pos, res in tokenizer.durations])
    return 1 / tokenizer.durations[int(np.abs(bins - beats).argmin())][2]


def beat_lengths(score: Score) -> tuple[np.ndarray, np.ndarray]:
    """(starts, quarter notes per beat) of the score's meters as tokenized (3/2 as 6/4), after a
    4/4 at 0 as MidiTok assumes: MidiTok counts durations in beats of the denominator."""
    meters = sorted(tokenization.normalize_meters(score).time_signatures, key=lambda ts: ts.time)
    starts = [0.0] + [ts.time / score.ticks_per_quarter for ts in meters]
    return np.array(starts), np.array([1.0] + [4 / ts.denominator for ts in meters])


def compare(tokenizer, score_in: Score, score_out: Score) -> dict:
    """Counts for one work (see the module docstring)."""
    written, notes_in, notes_out = (
        notes_of(score_in),
        notes_of(soundable(score_in)),
        notes_of(score_out),
    )
    by_pitch: dict[tuple[int, bool], list[tuple[float, float]]] = {}
    for pitch, onset, duration, drum in notes_in:
        by_pitch.setdefault((pitch, drum), []).append((onset, duration))
    onset_ok = duration_ok = 0
    starts, beats = beat_lengths(score_in)
    for pitch, onset, duration, drum in notes_out:
        candidates = by_pitch.get((pitch, drum), [])
        near = [d for o, d in candidates if abs(o - onset) <= ONSET_TOLERANCE + 1e-9]
        if near:
            onset_ok += 1
            best = min(near, key=lambda d: abs(d - duration))
            beat = float(beats[np.searchsorted(starts, onset + 1e-9, side="right") - 1])
            step = duration_step(tokenizer, best / beat) * beat
            duration_ok += drum or abs(best - duration) <= step / 2 + 1e-9
    in_range = sum(PIANO_RANGE[0] <= p <= PIANO_RANGE[1] or d for p, _, _, d in notes_in)
    return {
        "notes_in": len(written),
        "notes_in_range": in_range,
        "repeated_notes_in": len(written) - len(notes_in),
        "notes_out": len(notes_out),
        "onsets_on_grid": onset_ok,
        "durations_on_grid": duration_ok,
        "tracks_in": sum(1 for t in score_in.tracks if len(t.notes)),
        "tracks_out": sum(1 for t in score_out.tracks if len(t.notes)),
        **meters_kept(score_in, score_out),
    }


def meters_in_force(score: Score) -> set[tuple[int, int]]:
    """The meters that govern some bar: a time signature followed by another at its own tick
    (POP909 writes 4/4 and then 1/4 at tick 0) never does."""
    last_at = {ts.time: (ts.numerator, ts.denominator) for ts in score.time_signatures}
    return set(last_at.values())


def meters_kept(score_in: Score, score_out: Score) -> dict[str, set]:
    """The work's meters in force, by fate: kept as written, rewritten (3/2 comes back as the
    6/4 the presets tokenize, same bar and onsets), or lost (read in another meter)."""
    out = meters_in_force(score_out)
    fates: dict[str, set] = {"meters_in": set(), "meters_rewritten": set(), "meters_lost": set()}
    for meter in meters_in_force(score_in):
        fates["meters_in"].add(meter)
        tokenized = tokenization.tokenized_meter(*meter)
        if tokenized not in out:
            fates["meters_lost"].add(meter)
        elif tokenized != meter:
            fates["meters_rewritten"].add((meter, tokenized))
    return fates


def soundable(score: Score) -> Score:
    """`score` as one MIDI channel per track sounds it, by the DAW-ready writer's rule
    (`clean_notes`): a note ends where the next note of its pitch starts, and a repeat (same
    pitch, same onset as another note of its track) goes, the longer kept."""
    score = score.copy()
    for track in score.tracks:
        clean_track(track, 1)
    return score


def round_trip(tokenizer, meta: DataMeta, score: Score, folder: Path) -> Score:
    """The score through tokens, decoding (with the work's own track names and programs, as
    `prepare` records them) and the DAW-ready MIDI writer, read back."""
    ids = views.encode_score(tokenizer, meta, score)
    work_meta = dataclasses.replace(meta, tracks=track_table(score))
    path = save_daw_midi(views.decode(tokenizer, work_meta, ids), folder / "out.mid")
    return Score(str(path))


def melody_name(score: Score) -> str:
    """The name of the track the melody view picks."""
    return views.melody_track(score).name


def measure_set(name: str, manifest: mf.Manifest, truth, limit: int | None, folder: Path) -> dict:
    """Sum `compare` over the works (the first `limit`), plus melody accuracy where `truth`
    (score -> the melody track's name, or None) knows it."""
    tokenizer = tokenization.build_preset("remi")
    meta, root = full_meta(tokenizer), mf.source_root(manifest)
    totals: Counter = Counter()
    meters: dict[str, set] = {"meters_in": set(), "meters_rewritten": set(), "meters_lost": set()}
    melody = []
    works = manifest.works[:limit] if limit else manifest.works
    for work in works:
        try:
            score = load_work(work, root)
        except Exception as err:  # a file prepare would skip: counted, not fatal
            totals["skipped"] += 1
            print(f"{name}: skipped {work.path}: {err}")
            continue
        counts = compare(tokenizer, score, round_trip(tokenizer, meta, score, folder))
        for fate, found in meters.items():
            found.update(counts.pop(fate))
        totals.update(counts)
        expected = truth(score)
        if expected is not None:
            melody.append(melody_name(score).lower() == expected.lower())
        totals["works"] += 1
    return summarise(name, totals, meters, melody)


def summarise(name: str, totals: Counter, meters: dict[str, set], melody: list[bool]) -> dict:
    fmt = lambda pairs: " ".join(f"{n}/{d}" for n, d in sorted(pairs))  # noqa: E731
    return {
        f"{name}_works": totals["works"],
        f"{name}_skipped": totals["skipped"],
        f"{name}_notes_in": totals["notes_in"],
        f"{name}_notes_out": totals["notes_out"],
        f"{name}_notes_kept": totals["notes_out"] / max(totals["notes_in_range"], 1),
        f"{name}_repeated_notes_in": totals["repeated_notes_in"],
        f"{name}_onsets_on_grid": totals["onsets_on_grid"] / max(totals["notes_out"], 1),
        f"{name}_durations_on_grid": totals["durations_on_grid"] / max(totals["notes_out"], 1),
        f"{name}_tracks_in": totals["tracks_in"],
        f"{name}_tracks_out": totals["tracks_out"],
        f"{name}_tracks_kept": totals["tracks_out"] / max(totals["tracks_in"], 1),
        f"{name}_melody_accuracy": float(np.mean(melody)) if melody else None,
        f"{name}_meters_in": fmt(meters["meters_in"]),
        f"{name}_meters_rewritten": " ".join(
            f"{a}/{b} as {c}/{d}" for (a, b), (c, d) in sorted(meters["meters_rewritten"])
        ),
        f"{name}_meters_lost": fmt(meters["meters_lost"]),
    }


def pop909_truth(score: Score) -> str | None:
    return "MELODY" if any(t.name == "MELODY" for t in score.tracks) else None


def bach_truth(score: Score) -> str | None:
    names = [t.name for t in score.tracks if t.name.lower().startswith("soprano")]
    return names[0] if names else None


def folk_truth(score: Score) -> str | None:
    tracks = [t for t in score.tracks if len(t.notes)]
    return tracks[0].name if len(tracks) == 1 else None


def write_folk(folder: Path, limit: int | None) -> Path:
    """Tunes of `FOLK_FILES` written as MIDI files by music21 (a user's ABC collection)."""
    from music21 import corpus

    root = folder / "folk"
    root.mkdir()
    for rel in FOLK_FILES:
        opus = corpus.parse(rel)
        scores = list(opus.scores) if hasattr(opus, "scores") else [opus]
        for i, tune in enumerate(scores[:limit] if limit else scores):
            try:
                tune.write("midi", fp=str(root / f"{Path(rel).stem}_{i:03d}.mid"))
            except Exception as err:  # music21 cannot write a few of these tunes: say which
                print(f"folk: music21 could not write {rel} tune {i} as MIDI: {err}")
    return root


def pop909_leaks(folder: Path) -> int:
    """Files leaking across splits for POP909 with a versions/ copy of each song, --group-by top."""
    layout = folder / "pop_versions"
    for song in sorted(POP909.glob("[0-9][0-9][0-9]/[0-9][0-9][0-9].mid")):
        (layout / song.parent.name / "versions").mkdir(parents=True)
        shutil.copy(song, layout / song.parent.name / song.name)
        shutil.copy(song, layout / song.parent.name / "versions" / f"{song.stem}-v1.mid")
    path = mf.write_folder_manifest(layout, folder / "pop_versions.json", group_by="top")
    return mf.split_leaks(mf.load_manifest(path)).files


def folder_manifest(folder: Path, source: Path, name: str, **options) -> mf.Manifest:
    return mf.load_manifest(mf.write_folder_manifest(source, folder / f"{name}.json", **options))


def merge_downbeats(out: Path, limit: int | None) -> None:
    """POP909's downbeat alignment (`downbeats`) measured alone, merged into out's results."""
    results = json.loads((out / "results.json").read_text())
    songs = sorted(POP909.glob("[0-9][0-9][0-9]/[0-9][0-9][0-9].mid"))[:limit]
    command = command_line("benchmarks.fidelity")
    results.update(downbeats.measure(songs), pop909_alignment_command=command)
    write_results(out, results, render_markdown(results))


def main() -> None:
    args = parse_args()
    limit = 30 if args.quick else None
    if args.only_downbeats:
        merge_downbeats(args.out, limit)
        return
    results = {**environment(), "quick": args.quick}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if POP909.is_dir():
            pop = folder_manifest(folder, POP909, "pop909", group_by="top")
            results.update(measure_set("pop909", pop, pop909_truth, limit, folder))
            results["leaks"] = pop909_leaks(folder)
            songs = sorted(POP909.glob("[0-9][0-9][0-9]/[0-9][0-9][0-9].mid"))[:limit]
            results.update(downbeats.measure(songs))
        folk = folder_manifest(folder, write_folk(folder, limit and limit // 2), "folk")
        results.update(measure_set("folk", folk, folk_truth, limit, folder))
        bach = mf.load_manifest(BACH_MANIFEST)
        results.update(measure_set("bach", bach, bach_truth, limit, folder))
    results["command"] = command_line("benchmarks.fidelity")
    write_results(args.out, results, render_markdown(results))
    print(render_markdown(results))


def _share(results: dict, key: str) -> str:
    written, aligned = results.get(f"{key}_written"), results.get(f"{key}_aligned")
    return "-" if written is None else f"{written:.1%} -> {aligned:.1%}"


def render_markdown(results: dict) -> str:
    sets = [s for s in ("pop909", "folk", "bach") if f"{s}_works" in results]
    keys = [
        ("works", "{:d}"),
        ("notes_in", "{:,d}"),
        ("notes_out", "{:,d}"),
        ("notes_kept", "{:.4f}"),
        ("repeated_notes_in", "{:,d}"),
        ("onsets_on_grid", "{:.4f}"),
        ("durations_on_grid", "{:.4f}"),
        ("tracks_in", "{:,d}"),
        ("tracks_out", "{:,d}"),
        ("melody_accuracy", "{:.3f}"),
        ("meters_in", "{}"),
        ("meters_rewritten", "{}"),
        ("meters_lost", "{}"),
    ]
    rows = []
    for key, fmt in keys:
        values = [results.get(f"{s}_{key}") for s in sets]
        rows.append([key, *("-" if v is None else fmt.format(v) for v in values)])
    table = markdown_table(["", *sets], rows)
    return f"""# fidelity

Command: `{results["command"]}` ({"quick" if results["quick"] else "full"}). What each work keeps
through `prepare`'s path: the Score `load_work` reads -> REMI tokens (`views.encode_score`) ->
`views.decode` (with the work's track names and programs) -> the DAW-ready MIDI writer -> read
back. The input is taken as one MIDI channel per track sounds it, by the writer's rule: a note
ends where the next note of its pitch starts, and a repeat (same pitch and onset as another note
of its track, sounded once) goes (`repeated_notes_in`). Notes kept counts notes out over those
notes within MIDI's piano range 21-108 (drums always count); onsets within 1/24 beat of an
input note of the same pitch; durations within half the tokenizer's step of that note's (in
beats of the meter's denominator: 1/12 beat up to 4 beats, 1/4 beat to 12, 1 beat to 24;
drums always on the grid); a meter is rewritten when it comes back as the n/4 the presets
tokenize it as (same bar, same onsets), lost when its bars come back in another meter;
the melody track is the melody view's choice against POP909's `MELODY`, the chorales' soprano
and the folk tunes' only track.

{table}

Leaks (POP909 laid out with a `versions/` copy of every song, `symbolic manifest --group-by top`):
{results.get("leaks", "-")} files in a split that another copy of their notes is not in.

POP909's labelled downbeats within a 32nd of a written bar line (median over each song), as
written -> after `prepare --align-downbeat`: {_share(results, "pop909_downbeats_on_bars")}; its
labelled beats on the quarter-note grid: {_share(results, "pop909_beats_on_grid")}
({results.get("pop909_alignment_songs", "-")} songs).

Targets (issue 16): notes kept >= 0.999, durations on the grid >= 0.995, tracks in = tracks out,
melody track >= 0.98 on POP909, 0 leaks.
"""
