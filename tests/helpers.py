"""Builders and comparers shared by the test modules (fixtures stay in ``conftest.py``).

Test modules import from here (``from tests.helpers import ...``) and never from each other.
Nothing here imports jax at module level: ``conftest.py`` imports this module before it has
forced the host devices, and the data tests run without jax.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Small chorales that between them cover 4/4 with cross-voice unisons (bwv66.6), 3/2
# (bwv123.6), 3/4 in .xml (bwv67.4), 12/8 with eight instrumental parts (bwv248.23-2)
# and malformed repeats in Humdrum (bwv277.krn).
DATA_TEST_CHORALES = ("bwv66.6.mxl", "bwv123.6.mxl", "bwv67.4.xml", "bwv248.23-2.mxl")
SHARED_DATA = REPO.parent / "shared" / "data"  # the team's data, beside the checkout


def pop909_songs(count: int) -> list[Path]:
    """The MIDI files of POP909's first `count` songs (``NNN/NNN.mid``); skips the test, with
    the reason, when ../shared/data/pop909 is absent."""
    import pytest

    songs = sorted((SHARED_DATA / "pop909").glob("[0-9][0-9][0-9]/[0-9][0-9][0-9].mid"))[:count]
    if len(songs) < count:
        pytest.skip(f"needs {count} POP909 songs in {SHARED_DATA / 'pop909'} (found {len(songs)})")
    return songs


def pop909_folder(folder: Path, count: int) -> Path:
    """A user's folder of POP909's first `count` songs, laid out as the release has them
    (``NNN/NNN.mid``); skips as `pop909_songs`."""
    import shutil

    for song in pop909_songs(count):
        (folder / song.parent.name).mkdir(parents=True)
        shutil.copy(song, folder / song.parent.name / song.name)
    return folder


# --- MIDI and manifests written by the tests ---------------------------------------------


def note_ons(path) -> list[tuple[int, int]]:
    """(absolute tick, pitch) of every sounding note_on in a MIDI file, sorted."""
    import mido

    notes = []
    for track in mido.MidiFile(path).tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                notes.append((tick, msg.note))
    return sorted(notes)


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


def write_chorale_manifest(path: Path, train: int = 9, valid: int = 2, test: int = 1) -> Path:
    """A manifest of the first ``train``/``valid``/``test`` works of each split of the Bach
    chorale manifest, written to ``path``."""
    manifest = json.loads((REPO / "data_manifests" / "bach_chorales.json").read_text())
    wanted = {"train": train, "valid": valid, "test": test}
    works = []
    for work in manifest["works"]:
        if wanted.get(work["split"], 0) > 0:
            wanted[work["split"]] -= 1
            works.append(work)
    path.write_text(json.dumps({**manifest, "works": works}))
    return path


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


# --- comparing scores --------------------------------------------------------------------


def notes_of(score) -> list[tuple[int, float, int, float]]:
    """Sorted ``(program, onset, pitch, duration)`` of a ``symusic.Score``, times in quarter
    notes and drums as program -1."""
    tpq = score.ticks_per_quarter
    return sorted(
        (-1 if t.is_drum else t.program, n.time / tpq, n.pitch, n.duration / tpq)
        for t in score.tracks
        for n in t.notes
    )


def midi_notes(path: str | Path) -> list[tuple[int, float, int, float]]:
    """``notes_of`` the MIDI file at ``path``, read back with symusic."""
    from symusic import Score

    return notes_of(Score(str(path)))


def quarters_per_beat(score, onset_q: float) -> float:
    """Beat length (quarters) of the time signature in force at ``onset_q``."""
    denominator = 4
    for ts in score.time_signatures:
        if ts.time / score.ticks_per_quarter <= onset_q + 1e-9:
            denominator = ts.denominator
    return 4 / denominator


def assert_same_notes(reference, decoded, label: str, beat_res=None) -> None:
    """Every note of ``reference`` back in ``decoded``: program and pitch exactly, onset to half
    a position, duration to half a duration bin, as a MidiTok tokenizer with ``beat_res``
    (``{(first_beat, last_beat): steps per beat}``, the REMI preset's by default) quantises them.

    Positions take the finest resolution; a duration is binned by the range it falls in, and
    notes longer than the last range are clipped to it.
    """
    if beat_res is None:
        from symbolic import tokenization

        beat_res = tokenization.build_preset("remi").config.beat_res
    ranges = sorted(beat_res.items())
    longest = ranges[-1][0][1]
    ref, got = notes_of(reference), notes_of(decoded)
    assert len(got) == len(ref), f"{label}: {len(ref)} notes in, {len(got)} out"
    for want, have in zip(ref, got, strict=True):
        beat = quarters_per_beat(reference, want[1])
        assert have[0] == want[0] and have[2] == want[2], f"{label}: {want} -> {have}"
        position = beat / max(beat_res.values())
        assert abs(have[1] - want[1]) <= position / 2 + 1e-9, f"{label}: onset {want} -> {have}"
        expected = min(want[3], longest * beat)
        steps = next(res for (_, last), res in ranges if expected <= last * beat + 1e-9)
        step = beat / steps
        assert abs(have[3] - expected) <= step / 2 + 1e-9, f"{label}: duration {want} -> {have}"


def assert_round_trip(tokenizer, score, label: str, reference=None):
    """Encode ``score`` and decode the ids: the tokens count every note, and the decoded score
    has ``reference``'s notes (by default the score with its meters as the tokenizer reads
    them) within the tokenizer's resolution. Returns the decoded score."""
    from symbolic import tokenization

    ids = tokenization.encode(tokenizer, score)
    assert tokenization.count_notes(tokenizer, ids) == score.note_num(), label
    decoded = tokenization.decode(tokenizer, ids)
    reference = tokenization.normalize_meters(score) if reference is None else reference
    assert_same_notes(reference, decoded, label, tokenizer.config.beat_res)
    return decoded


# --- runs --------------------------------------------------------------------------------


def write_run_dir(run_dir: Path, name: str, seed: int = 0, **model_changes) -> Path:
    """A self-contained run directory around a randomly-initialised tiny ``name`` model
    (``transformer`` or ``lstm``, d=32, two layers; ``model_changes`` replace config fields,
    e.g. ``position="learned"``) with the REMI tokenizer."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    from symbolic import models, tokenization
    from symbolic.models.lstm import LSTMConfig
    from symbolic.models.transformer import TransformerConfig
    from symbolic.training import checkpoint
    from symbolic.training.config import RunConfig, TrainConfig

    tiny = {
        "transformer": TransformerConfig(
            d_model=32, num_layers=2, num_heads=2, d_ff=64, dropout=0.0, max_len=128
        ),
        "lstm": LSTMConfig(embed_dim=32, hidden_size=32, num_layers=2, dropout=0.0),
    }
    tokenizer = tokenization.build_preset("remi")
    vocab = len(tokenizer.vocab)
    model = dataclasses.replace(tiny[name], vocab_size=vocab, **model_changes)
    train = TrainConfig()
    if getattr(model, "position", None) == "learned":  # windows must fit the position table
        train = dataclasses.replace(train, seq_len=min(train.seq_len, model.max_len))
    config = RunConfig(model_name=name, preset="tiny", model=model, train=train)
    module = models.build(name, config.model)
    params = module.init(jax.random.PRNGKey(seed), jnp.zeros((1, 8), jnp.int32))["params"]
    run_dir.mkdir(parents=True)
    config.save(run_dir / checkpoint.CONFIG_FILE)
    tokenizer.save(run_dir / checkpoint.TOKENIZER_FILE)
    meta = {
        "vocab_size": vocab,
        "special_ids": tokenization.special_ids(tokenizer),
        "tokenizer_hash": tokenization.tokenizer_hash(tokenizer),
    }
    (run_dir / checkpoint.META_FILE).write_text(json.dumps(meta))
    saver = checkpoint.Checkpoints(run_dir)
    saver.save_best(0, params, {"valid_nll": 0.0})
    saver.close()
    return run_dir


def train_tiny(data_dir: Path, run_dir: Path, steps: int, *overrides: str) -> Path:
    """Train the ``tiny`` Transformer preset for ``steps`` steps on DATA_DIR into RUN_DIR,
    evaluating and checkpointing once, at the end; ``overrides`` are ``section.key=value``."""
    from symbolic.training import config as config_lib
    from symbolic.training import trainer

    every = f"train.eval_every={steps}", f"train.checkpoint_every={steps}"
    config = config_lib.resolve("transformer", "tiny", [*every, *overrides], steps=steps)
    trainer.train(config, data_dir, run_dir, progress=False)
    return run_dir


def synth_available() -> bool:
    """Whether FluidSynth and a General MIDI SoundFont are installed (render tests need both)."""
    from symbolic.output.render import synth_available as available

    return available()


# --- the studio's browser ------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def headless_chromium(downloads: Path | None = None, size: tuple[int, int] = (1400, 1000)):
    """A selenium driver of Debian's chromium, headless, through /usr/bin/chromedriver (so
    selenium-manager never runs and no browser is downloaded); files it downloads go to
    `downloads`. The caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    if downloads is not None:
        prefs = {"download.default_directory": str(downloads)}
        options.add_experimental_option("prefs", prefs | {"download.prompt_for_download": False})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
