"""Shared fixtures. Four host devices are forced before jax is imported anywhere, so the
data-parallel code paths run in every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_FLAG = "--xla_force_host_platform_device_count=4"
if _FLAG.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()


# --- data fixtures (tokenization, manifest, prepare, grammar tests) ----------------------

# Small chorales that between them cover 4/4 with cross-voice unisons (bwv66.6), 3/2
# (bwv123.6), 3/4 in .xml (bwv67.4), 12/8 with eight instrumental parts (bwv248.23-2)
# and malformed repeats in Humdrum (bwv277.krn).
DATA_TEST_CHORALES = ("bwv66.6.mxl", "bwv123.6.mxl", "bwv67.4.xml", "bwv248.23-2.mxl")


@pytest.fixture(scope="session")
def bach_corpus_paths() -> dict[str, Path]:
    """``{file name: path}`` of every Bach file shipped in the music21 corpus."""
    from music21 import corpus

    return {Path(p).name: Path(p) for p in corpus.getComposer("bach")}


@pytest.fixture(scope="session")
def converted_chorales(bach_corpus_paths) -> dict[str, object]:
    """``{file name: symusic.Score}`` for ``DATA_TEST_CHORALES``, converted once."""
    from symbolic.data.convert import load_score

    return {name: load_score(bach_corpus_paths[name]) for name in DATA_TEST_CHORALES}


def write_test_midi(path, tracks, *, tpq=480, bpm=120.0, time_sigs=((0, 4, 4),)) -> Path:
    """Write a type-1 MIDI file with mido.

    Args:
        tracks: ``[{"program": int, "drum": bool, "notes": [(start_q, dur_q, pitch, vel)]}]``
            with times in quarter notes.
        time_sigs: ``(start_q, numerator, denominator)`` triples.
    """
    import mido

    midi = mido.MidiFile(type=1, ticks_per_beat=tpq)
    meta = [(0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))]
    for start, num, den in time_sigs:
        meta.append(
            (round(start * tpq), mido.MetaMessage("time_signature", numerator=num, denominator=den))
        )
    midi.tracks.append(_delta_track(meta))
    for i, track in enumerate(tracks):
        channel = 9 if track.get("drum") else i % 9
        events = [(0, mido.Message("program_change", program=track["program"], channel=channel))]
        for start, dur, pitch, vel in track["notes"]:
            on, off = round(start * tpq), round((start + dur) * tpq)
            events.append((on, mido.Message("note_on", note=pitch, velocity=vel, channel=channel)))
            events.append((off, mido.Message("note_off", note=pitch, velocity=0, channel=channel)))
        midi.tracks.append(_delta_track(events))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(path)
    return path


def _delta_track(events):
    import mido

    track, now = mido.MidiTrack(), 0
    # note_off before note_on at equal ticks, so repeated pitches do not overlap
    for tick, msg in sorted(events, key=lambda e: (e[0], e[1].type != "note_off")):
        track.append(msg.copy(time=tick - now))
        now = tick
    return track


@pytest.fixture
def midi_writer():
    """``write_test_midi`` (see its docstring) as a fixture."""
    return write_test_midi


# --- training fixtures ---------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def write_chorale_manifest(path: Path, train: int = 9, valid: int = 2, test: int = 1) -> Path:
    """A manifest of the first ``train``/``valid``/``test`` works of each split of the Bach
    chorale manifest, written to ``path``."""
    import json

    manifest = json.loads((REPO / "data_manifests" / "bach_chorales.json").read_text())
    wanted = {"train": train, "valid": valid, "test": test}
    works = []
    for work in manifest["works"]:
        if wanted.get(work["split"], 0) > 0:
            wanted[work["split"]] -= 1
            works.append(work)
    path.write_text(json.dumps({**manifest, "works": works}))
    return path


@pytest.fixture(scope="session")
def chorale_data_dir(tmp_path_factory) -> Path:
    """A prepared REMI data set of a dozen real chorales (train/valid/test), made once."""
    from symbolic.data.prepare import prepare

    root = tmp_path_factory.mktemp("chorales")
    write_chorale_manifest(root / "manifest.json")
    prepare(root / "manifest.json", "remi", root / "data", progress=False, cache_dir=root / "cache")
    return root / "data"


def drum_groove(bars: int, meter: int, variant: int) -> list[tuple[float, float, int, int]]:
    """GM drum notes (quarter-note times) of a simple groove: kick on 1, snare on the back
    beats, closed hi-hat on every 8th; ``variant`` adds a kick or moves the snare."""
    notes = []
    for bar in range(bars):
        start = bar * meter
        notes.append((start, 0.5, 36, 110))
        if variant % 2 and meter == 4:
            notes.append((start + 2.5, 0.5, 36, 100))
        snares = (1, 3) if meter == 4 else (1 + variant % 2,)
        notes += [(start + beat, 0.5, 38, 105) for beat in snares]
        notes += [(start + half / 2, 0.25, 42, 70 + 10 * (half % 2)) for half in range(2 * meter)]
    return notes


@pytest.fixture(scope="session")
def drum_corpus(tmp_path_factory) -> dict[str, Path]:
    """A folder of 30 short drum MIDI files (GM channel 10, 4/4 and 3/4, 80-140 bpm, with a
    piano track, and drum notes at 30 and 90 outside the GM drum map) plus one file without
    drums, and its manifest (``symbolic manifest``)."""
    from symbolic.data.manifest import write_folder_manifest

    root = tmp_path_factory.mktemp("drum_corpus")
    for i in range(30):
        meter = 3 if i % 3 == 0 else 4
        drums = drum_groove(4, meter, i) + [(0, 0.5, 30, 90), (meter, 0.5, 90, 90)]
        piano = [(bar * meter, meter, 48 + i % 12, 70) for bar in range(4)]
        write_test_midi(
            root / "midi" / f"groove_{i:02d}.mid",
            [{"program": 0, "notes": piano}, {"program": 0, "drum": True, "notes": drums}],
            bpm=80 + 2 * i,
            time_sigs=((0, meter, 4),),
        )
    write_test_midi(root / "midi" / "no_drums.mid", [{"program": 0, "notes": [(0, 1, 60, 80)]}])
    manifest = write_folder_manifest(root / "midi", root / "manifest.json", name="drums")
    return {"folder": root / "midi", "manifest": manifest}
