"""`symbolic.analysis` and `symbolic analyze`: key, chords, beats, sections and the melody track,
on a chorale, files written here with known answers, and POP909 songs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from symbolic import analyze
from symbolic.analysis import beats
from symbolic.analysis.melody import find_melody, name_says_melody
from symbolic.analysis.notes import note_table
from symbolic.cli import main
from symbolic.data import views
from tests.helpers import pop909_songs

TPQ = 480
# (chord pitches, Harte label) per bar, with a melody over it that has passing tones.
PROGRESSION = [
    ((48, 60, 64, 67), "C:maj"),
    ((45, 57, 60, 64), "A:min"),
    ((41, 57, 60, 65), "F:maj"),
    ((43, 59, 62, 65), "G:7"),
    ((50, 57, 60, 65), "D:min7"),
]


def _score(tracks: dict[str, list[tuple[float, float, int]]], bpm: float = 120.0) -> Score:
    """A Score at ``bpm`` in 4/4 with one named track per entry, notes ``(start, length,
    pitch)`` in quarter notes."""
    score = Score(TPQ)
    score.tempos.append(Tempo(0, bpm))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    for name, notes in tracks.items():
        track = Track(name, 0, False)
        for start, length, pitch in notes:
            track.notes.append(Note(round(start * TPQ), round(length * TPQ), pitch, 80))
        score.tracks.append(track)
    return score


def _progression_score(bars=PROGRESSION, offset: float = 0.0) -> dict[str, list]:
    piano, melody = [], []
    for bar, (pitches, _) in enumerate(bars):
        start = offset + 4 * bar
        piano += [(start + beat, 1, p) for beat in range(4) for p in pitches]
        # E, D, then a held B: B would make the C bars C:maj7 were the melody harmony
        melody += [(start, 1.5, 76), (start + 1.5, 0.5, 74), (start + 2, 2, 71)]
    return {"Piano": piano, "Lead Vocal": melody}


def test_key_of_a_chorale_is_the_key_its_score_states(bach_corpus_paths, converted_chorales):
    from music21 import converter
    from music21 import key as m21key

    stated = converter.parse(bach_corpus_paths["bwv66.6.mxl"]).flatten()
    stated = stated.getElementsByClass(m21key.Key).first()  # <key><mode>minor</mode></key>
    assert stated is not None and stated.mode == "minor"
    found = analyze(converted_chorales["bwv66.6.mxl"]).key
    assert (found.pitch_class, found.mode) == (stated.tonic.pitchClass, stated.mode)
    assert 0.5 < found.confidence <= 1


def test_chords_of_a_written_progression_have_their_labels_per_beat():
    """Block chords on every beat under a lead melody of non-chord tones: the melody is found
    by its name and left out, so each beat gets its bar's chord."""
    result = analyze(_score(_progression_score()))
    assert result.tempo_source == "grid" and result.meter == "4/4"
    assert result.melody_track == "Lead Vocal"
    assert [c.label for c in result.chords] == [label for _, label in PROGRESSION for _ in range(4)]
    assert [c.time for c in result.chords[:5]] == [0.0, 0.5, 1.0, 1.5, 2.0]  # 120 BPM beats
    assert [c.label for c in result.chord_changes()] == [label for _, label in PROGRESSION]


def _free_time_score(period: float, beats_count: int, seed: int = 0) -> tuple[Score, np.ndarray]:
    """A piece at 60 / ``period`` BPM played with up to 15 ms of timing noise, written at a
    constant 120 BPM (1 quarter = 0.5 s) with each note at its time in seconds: the tempo
    map says nothing. -> (score, the true beat times in seconds)."""
    rng = np.random.default_rng(seed)
    truth = 0.8 + period * np.arange(beats_count)
    bass, chords, line = [], [], []
    for i, beat in enumerate(truth):
        jitter = rng.uniform(-0.015, 0.015, 3)
        if i % 2 == 0:
            bass.append((beat + jitter[0], period * 1.8, 40 + (i // 8) % 3 * 2))
        chords += [(beat + jitter[1], period * 0.4, p) for p in (60, 64, 67)]
        line.append((beat + period / 2 + jitter[2], period * 0.4, 72 + i % 5))
    quarter = 0.5  # seconds at 120 BPM
    tracks = {
        "Bass": [(s / quarter, d / quarter, p) for s, d, p in bass],
        "Chords": [(s / quarter, d / quarter, p) for s, d, p in chords],
        "Line": [(s / quarter, d / quarter, p) for s, d, p in line],
    }
    return _score(tracks, 120.0), truth


def test_beats_are_found_from_the_notes_of_a_file_without_a_tempo_map():
    mir_eval = pytest.importorskip("mir_eval", reason="mir_eval is in the audio extra")
    score, truth = _free_time_score(period=0.6, beats_count=64)  # 100 BPM under a 120 map
    result = analyze(score)
    assert result.tempo_source == "onsets"
    assert abs(result.tempo - 100) < 2
    assert mir_eval.beat.f_measure(truth, np.array(result.beats), 0.07) > 0.95
    assert len(result.downbeats) >= 14 and result.meter == "4/4"


def test_sections_of_a_piece_written_a_b_a():
    a = PROGRESSION[:4] * 2  # 8 bars
    b = [((43, 55, 59, 62), "G:maj"), ((40, 55, 59, 64), "E:min")] * 4  # 8 other bars
    score = _score(_progression_score(a + b + a))
    found = analyze(score).sections
    assert [s.label for s in found] == ["A", "B", "A"]
    assert [(s.first_bar, s.end_bar) for s in found] == [(0, 8), (8, 16), (16, 24)]


def test_melody_finder_picks_melody_in_pop909_songs_and_never_percussion():
    songs = pop909_songs(100)
    picked = [views.melody_track(Score(str(path))).name == "MELODY" for path in songs]
    assert np.mean(picked) >= 0.98  # issue 16's floor for the melody view
    for path in songs[:20]:
        score = Score(str(path))
        assert find_melody(score).name == "MELODY", path
        assert analyze(score).melody_track == "MELODY"
    assert views.melody_track(Score(str(songs[0])), "piano").name == "PIANO"  # --track wins
    drums = _score({"Agogo": [(i, 0.5, 70) for i in range(16)], "Pad": [(0, 16, 60)]})
    drums.tracks[0].program = 113
    assert find_melody(drums).name == "Pad"
    assert name_says_melody("Lead Vocal") and name_says_melody("主旋律")
    assert not name_says_melody("Backing Vocals") and not name_says_melody("Bass")


def test_analyze_a_folder_skips_a_corrupt_file_with_its_reason(tmp_path, capsys):
    folder = tmp_path / "songs"
    folder.mkdir()
    cadence = PROGRESSION[:4] + PROGRESSION[:1]  # C Am F G7 C
    _score(_progression_score(cadence)).dump_midi(str(folder / "good.mid"))
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02garbage")
    out = tmp_path / "analysis.json"
    assert main(["analyze", str(folder), "--json", str(out), "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert f"skipped {folder / 'broken.mid'}: " in captured.err
    assert "analysed 1 files, skipped 1" in captured.out
    (entry,) = json.loads(out.read_text())
    assert entry["file"] == str(folder / "good.mid")
    assert entry["key"]["tonic"] == "C" and entry["key"]["mode"] == "major"
    for key in ("key_regions", "tempo", "beats", "downbeats", "meter", "chords", "sections"):
        assert key in entry
    assert entry["chords"][0] == {"time": 0.0, "end": 0.5, "label": "C:maj"}
    # the one bad file asked for by name is an error, not a skip
    assert main(["analyze", str(folder / "broken.mid")]) == 2
    assert "broken.mid" in capsys.readouterr().err


def test_analyze_plots_a_file(tmp_path):
    path = tmp_path / "song.mid"
    _score(_progression_score()).dump_midi(str(path))
    assert main(["analyze", str(path), "--plot", str(tmp_path / "song.png")]) == 0
    assert (tmp_path / "song.png").stat().st_size > 10_000


def test_quantised_file_off_the_beat_is_put_back_on_it():
    """Quantised notes that start half a beat late (as many POP909 files): the beats follow the
    music, not tick 0."""
    score = _score(_progression_score(offset=0.5))
    found = beats.rhythm(score, note_table(score))
    assert found.source == "grid"
    assert np.allclose(found.beats[:3] % 0.5, 0.25)


@pytest.mark.parametrize("bad", ["missing.mid"])
def test_analyze_names_a_missing_file(tmp_path, bad):
    with pytest.raises(FileNotFoundError, match=bad):
        analyze(tmp_path / bad)


def test_chord_view_prepare_skips_a_work_past_the_time_limit(tmp_path, monkeypatch):
    """`prepare --view chords` labels a file with the numpy recogniser, and a work that takes
    longer than the per-work limit is skipped with that reason, not waited for."""
    import time

    from symbolic.data import prepare as prepare_module
    from symbolic.data.manifest import write_folder_manifest

    folder = tmp_path / "songs"
    folder.mkdir()
    for name in ("a", "b"):
        _score(_progression_score()).dump_midi(str(folder / f"{name}.mid"))
    _score(_progression_score(PROGRESSION * 2)).dump_midi(str(folder / "long.mid"))
    manifest = write_folder_manifest(folder, tmp_path / "manifest.json")
    view = views.View("chords")
    meta = prepare_module.prepare(
        manifest, "remi", tmp_path / "data", view=view, workers=1, progress=False, cache_dir=None
    )
    assert not meta.skipped
    select = views.select
    short = _score(_progression_score()).note_num()

    def slow_for_long_works(tokenizer, score, *args, **kwargs):
        if score.note_num() > short:
            time.sleep(3)
        return select(tokenizer, score, *args, **kwargs)

    monkeypatch.setattr(prepare_module, "WORK_TIME_LIMIT_S", 1)
    monkeypatch.setattr(views, "select", slow_for_long_works)
    meta = prepare_module.prepare(
        manifest, "remi", tmp_path / "slow", view=view, workers=1, progress=False, cache_dir=None
    )
    assert [s.file for s in meta.skipped] == ["long.mid"]
    assert "took longer than the per-work limit of 1 s" in meta.skipped[0].reason
