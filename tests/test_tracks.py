"""Every source track its own track: tracks that share a GM program stay apart in the token
stream and come back with their names and programs (POP909's MELODY, BRIDGE and PIANO, all
piano), and data of the old format, which merged them, is refused with a clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from symusic import Note, Score, Track

from symbolic import tokenization
from symbolic.data import manifest as mf
from symbolic.data import views
from symbolic.data.meta import MetaError, load_meta, read_meta
from symbolic.data.prepare import prepare
from symbolic.tracks import StreamTrack, common_table, stream_programs, track_table
from tests.helpers import pop909_folder


def _score(tracks: list[tuple[str, int, bool]]) -> Score:
    """One note per track (pitch 60 at tick 0: every track in unison), 480 ticks a quarter."""
    score = Score(480)
    for name, program, drum in tracks:
        track = Track(name=name, program=program, is_drum=drum)
        track.notes.append(Note(0, 480, 38 if drum else 60, 90))
        score.tracks.append(track)
    return score


def test_tracks_that_share_a_program_take_the_next_programs_of_their_family():
    score = _score(
        [
            ("Lead", 0, False),
            ("Pad", 0, False),
            ("Bass", 33, False),
            ("Kit", 0, True),
            ("Keys", 0, False),
            ("Bass 2", 39, False),
            ("Bass 3", 39, False),
        ]
    )
    # Pianos 0 0 0 -> 0 1 2; 39 is the family's last bass, so its second track wraps to 32, the
    # first bass no track holds; drums stay -1.
    assert stream_programs(score) == [0, 1, 33, -1, 2, 39, 32]
    tokenizer = tokenization.build_preset("remi")
    decoded = tokenization.decode(tokenizer, tokenization.encode(tokenizer, score))
    assert sorted(t.program for t in decoded.tracks if not t.is_drum) == [0, 1, 2, 32, 33, 39]
    assert decoded.note_num() == score.note_num()  # the unisons survive


def test_the_common_table_takes_each_stream_programs_most_frequent_track():
    songs = [track_table(_score([("MELODY", 0, False), ("PIANO", 0, False)]))] * 2
    songs.append(track_table(_score([("Piano", 0, False), ("Kit", 0, True)])))
    assert common_table(songs) == (
        StreamTrack(0, 0, "MELODY"),
        StreamTrack(1, 0, "PIANO"),
        StreamTrack(-1, -1, "Kit"),
    )


def _same_notes(kept, original) -> bool:
    """The same pitches, each onset within the tokenizer's one tick (1/24 quarter) of its own."""
    a, b = kept.notes.numpy(), original.notes.numpy()
    if len(a["pitch"]) != len(b["pitch"]):
        return False
    order_a, order_b = np.lexsort((a["time"], a["pitch"])), np.lexsort((b["time"], b["pitch"]))
    same_pitch = np.array_equal(a["pitch"][order_a], b["pitch"][order_b])
    gap = np.abs(a["time"][order_a].astype(int) - b["time"][order_b].astype(int))
    return same_pitch and int(gap.max()) <= 1


def test_pop909_keeps_its_three_named_tracks_and_every_note_through_prepare_and_decode(tmp_path):
    manifest = mf.write_folder_manifest(pop909_folder(tmp_path / "pop", 3), tmp_path / "pop.json")
    out = tmp_path / "data"
    prepare(manifest, "remi", out, progress=False, workers=1)
    meta = load_meta(out)
    assert meta.tracks == (
        StreamTrack(0, 0, "MELODY"),
        StreamTrack(1, 0, "BRIDGE"),
        StreamTrack(2, 0, "PIANO"),
    )
    tokenizer = tokenization.load_tokenizer(out / "tokenizer.json")
    offsets = {split: np.load(out / f"{split}_offsets.npy") for split in mf.SPLITS}
    sources = {
        split: json.loads((out / f"{split}_sources.json").read_text()) for split in mf.SPLITS
    }
    works = {w.id: w for w in mf.load_manifest(manifest).works}
    checked = 0
    for split, entries in sources.items():
        tokens = np.load(out / f"{split}.npy")
        for i, entry in enumerate(entries):
            ids = tokens[offsets[split][i] : offsets[split][i + 1]]
            decoded = views.decode(tokenizer, meta, ids)
            source = Score(str(tmp_path / "pop" / works[entry["work"]].path))
            source = source.resample(decoded.ticks_per_quarter)
            assert [t.name for t in decoded.tracks] == ["MELODY", "BRIDGE", "PIANO"]
            assert {t.program for t in decoded.tracks} == {0}
            for kept, original in zip(decoded.tracks, source.tracks, strict=True):
                assert _same_notes(kept, original), f"{entry['work']} {original.name}"
            checked += 1
    assert checked == 3


def test_data_of_the_old_format_is_refused_with_a_clear_error(chorale_data_dir, tmp_path):
    old = json.loads((chorale_data_dir / "meta.json").read_text()) | {"format_version": 1}
    (tmp_path / "meta.json").write_text(json.dumps(old))
    with pytest.raises(MetaError, match=r"meta.json: token data of format 1.*symbolic prepare"):
        read_meta(tmp_path / "meta.json")
