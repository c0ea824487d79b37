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


@pytest.fixture(scope="session")
def chorale_data_dir(tmp_path_factory) -> Path:
    """A prepared REMI data set of a dozen real chorales (train/valid/test), made once."""
    import json

    from symbolic.data.prepare import prepare

    manifest = json.loads((REPO / "data_manifests" / "bach_chorales.json").read_text())
    wanted = {"train": 9, "valid": 2, "test": 1}
    works = []
    for work in manifest["works"]:
        if wanted.get(work["split"], 0) > 0:
            wanted[work["split"]] -= 1
            works.append(work)
    root = tmp_path_factory.mktemp("chorales")
    (root / "manifest.json").write_text(json.dumps({**manifest, "works": works}))
    prepare(root / "manifest.json", "remi", root / "data", progress=False, cache_dir=root / "cache")
    return root / "data"
