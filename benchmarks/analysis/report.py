"""results.json / results.md of ``benchmarks.analysis`` from its cached phases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.common import environment, load_line, markdown_table, write_results

TARGETS = {
    "key_weighted_pop909": "ahead of music21",
    "chord_majmin_pop909": ">= 0.80 and ahead of chordify",
    "beat_f_pop909": ">= 0.85",
    "key_weighted_chorales": "ahead of music21",
    "files_per_s": ">= 5",
    "chord_view_files_per_s": ">= 2",
}


def _load(work: Path, name: str, suffix: str) -> dict | None:
    path = work / f"{name}{suffix}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _mean(rows: list[dict], key: str) -> float:
    return round(float(np.mean([r[key] for r in rows])), 4)


def _figures(work: Path, suffix: str) -> tuple[dict, dict]:
    """(results, raw phase records) from the cached phases."""
    phases = {
        n: _load(work, n, suffix)
        for n in ("ours", "music21_key", "chordify", "chorales", "speed", "chord_view")
    }
    out: dict = {}
    ours = phases["ours"]["result"] if phases["ours"] else []
    if ours:
        out["songs_pop909"] = len(ours)
        for key in (
            "key_weighted",
            "key_exact",
            "chord_root",
            "chord_majmin",
            "chord_sevenths",
            "beat_f",
            "downbeat_f",
            "beat_f_tempo_map",
            "downbeat_f_tempo_map",
        ):
            out[f"{key}_pop909"] = _mean(ours, key)
        out["beats_from_onsets_share_pop909"] = round(
            float(np.mean([r["stripped_source"] == "onsets" for r in ours])), 4
        )
        out["melody_accuracy_pop909"] = _mean(ours, "melody_named")
        out["melody_accuracy_pop909_names_hidden"] = _mean(ours, "melody_unnamed")
    by_song = {r["song"]: r for r in ours}
    if phases["music21_key"]:
        theirs = phases["music21_key"]["result"]
        same = [by_song[r["song"]] for r in theirs if r["song"] in by_song]
        out["key_weighted_pop909_music21"] = _mean(theirs, "key_weighted")
        out["key_exact_pop909_music21"] = _mean(theirs, "key_exact")
        out["music21_key_songs"] = len(theirs)
        if same:
            out["key_weighted_pop909_music21_subset_ours"] = _mean(same, "key_weighted")
            out["key_exact_pop909_music21_subset_ours"] = _mean(same, "key_exact")
    if phases["chordify"]:
        rows = phases["chordify"]["result"]
        out["chordify_songs"] = len(rows)
        for name in ("root", "majmin", "sevenths"):
            out[f"chord_{name}_pop909_chordify"] = _mean(rows, f"chordify_{name}")
            out[f"chord_{name}_pop909_chordify_subset_ours"] = _mean(rows, f"ours_{name}")
        out["chordify_seconds_per_song"] = _mean(rows, "chordify_seconds")
        out["ours_chord_seconds_per_song"] = _mean(rows, "ours_seconds")
    if phases["chorales"]:
        rows = [r for r in phases["chorales"]["result"] if r["stated"] is not None]
        out["chorales"] = len(rows)
        out["chorales_without_stated_mode"] = len(phases["chorales"]["result"]) - len(rows)
        for who, name in (("ours", ""), ("music21", "_music21")):
            out[f"key_weighted_chorales{name}"] = _mean(rows, f"{who}_weighted")
            out[f"key_exact_chorales{name}"] = _mean(rows, f"{who}_exact")
    for phase, key in (("speed", "files_per_s"), ("chord_view", "chord_view_files_per_s")):
        if phases[phase]:
            r = phases[phase]["result"]
            out[key] = round(r["files"] / r["seconds"], 3)
            out[f"{key}_load_before"] = phases[phase]["load_before"]
            out[f"{key}_skipped"] = r["skipped"]
    return out, phases


def _table(out: dict) -> str:
    def get(key):
        return out.get(key, "not run")

    rows = [
        [
            "key, weighted (POP909 key_audio, all songs)",
            get("key_weighted_pop909"),
            f"{get('key_weighted_pop909_music21_subset_ours')} on music21's subset",
            get("key_weighted_pop909_music21"),
        ],
        [
            "key, exact match (POP909)",
            get("key_exact_pop909"),
            f"{get('key_exact_pop909_music21_subset_ours')} on music21's subset",
            get("key_exact_pop909_music21"),
        ],
        [
            "chords root (POP909 chord_midi, per beat, duration-weighted)",
            get("chord_root_pop909"),
            f"{get('chord_root_pop909_chordify_subset_ours')} on chordify's subset",
            get("chord_root_pop909_chordify"),
        ],
        [
            "chords majmin",
            get("chord_majmin_pop909"),
            f"{get('chord_majmin_pop909_chordify_subset_ours')} on chordify's subset",
            get("chord_majmin_pop909_chordify"),
        ],
        [
            "chords sevenths",
            get("chord_sevenths_pop909"),
            f"{get('chord_sevenths_pop909_chordify_subset_ours')} on chordify's subset",
            get("chord_sevenths_pop909_chordify"),
        ],
        [
            "beat F, tempo-stripped files (120 BPM, notes at their seconds)",
            get("beat_f_pop909"),
            "",
            "",
        ],
        ["downbeat F, tempo-stripped files", get("downbeat_f_pop909"), "", ""],
        ["beat F, original files (tempo map kept)", get("beat_f_tempo_map_pop909"), "", ""],
        ["downbeat F, original files", get("downbeat_f_tempo_map_pop909"), "", ""],
        ["melody track = MELODY (POP909)", get("melody_accuracy_pop909"), "", ""],
        [
            "melody track = MELODY, track names hidden",
            get("melody_accuracy_pop909_names_hidden"),
            "",
            "",
        ],
        [
            "key, weighted (Bach chorales, stated key)",
            get("key_weighted_chorales"),
            "",
            get("key_weighted_chorales_music21"),
        ],
        [
            "key, exact (Bach chorales)",
            get("key_exact_chorales"),
            "",
            get("key_exact_chorales_music21"),
        ],
        [
            "chords, seconds per song (chordify's 31 songs)",
            get("ours_chord_seconds_per_song"),
            "",
            get("chordify_seconds_per_song"),
        ],
        ["analyze, files/s (POP909, 2 processes)", get("files_per_s"), "", ""],
        [
            "prepare --view chords, files/s (100 POP909 songs, 2 processes)",
            get("chord_view_files_per_s"),
            "",
            "",
        ],
    ]
    return markdown_table(["measure", "ours", "ours, baseline's songs", "music21 baseline"], rows)


def report(work: Path, suffix: str, out_dir: Path, workers: int) -> None:
    out, phases = _figures(work, suffix)
    results = {**out, **environment()}
    loads = [f"- {name} (`{p['command']}`): {load_line(p)}" for name, p in phases.items() if p]
    notes = (
        (Path(__file__).parent / "notes.md").read_text()
        if (Path(__file__).parent / "notes.md").is_file()
        else ""
    )
    markdown = "\n".join(
        [
            "# analysis",
            "",
            f"Command: `python -m benchmarks.analysis` ({workers} worker processes; each phase "
            "is cached, and may be run alone with `--phases`, as listed below). POP909 labels were "
            "made by "
            "algorithms and partly checked by people: these are agreements, not accuracies.",
            "",
            _table(out),
            "",
            "Targets: " + "; ".join(f"`{k}` {v}" for k, v in TARGETS.items()) + ".",
            "",
            "Machine load per phase (2 cores shared with other jobs):",
            *loads,
            "",
            notes,
        ]
    )
    write_results(out_dir, results, markdown)
    print(json.dumps(out, indent=1))
