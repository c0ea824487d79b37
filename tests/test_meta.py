"""meta.json as typed records: validated once, written back key for key."""

from __future__ import annotations

import json

import pytest

from symbolic.data import fim, views
from symbolic.data.meta import (
    DataMeta,
    MetaError,
    SegmentsMeta,
    SpecialIds,
    load_meta,
    meta_from_json,
    write_meta,
)

SPECIAL = {"pad": 0, "bos": 1, "eos": 2, "mask": 3}
# A run directory's meta.json may hold only what generation needs (tests write such runs).
MINIMAL = {"vocab_size": 300, "special_ids": SPECIAL, "tokenizer_hash": "ab" * 32}


def test_a_minimal_run_meta_reads_and_writes_back_unchanged(tmp_path):
    meta = DataMeta.from_json(MINIMAL)
    assert meta.special_ids == SpecialIds(0, 1, 2, 3) and meta.view == views.View()
    assert meta.counts is None and meta.special_ids.fim is None
    assert meta.to_json() == MINIMAL
    write_meta(meta, tmp_path / "meta.json")
    assert load_meta(tmp_path) == meta


def test_a_view_and_fim_sentinels_round_trip_in_prepare_s_key_order():
    data = {
        **MINIMAL,
        "counts": {"train": {"works": 2, "sequences": 2, "tokens": 90}},
        "view": {"name": "chords", "chord_rate": "bar"},
        "extra_tokens": {"Chord_C:maj": 300},
    }
    meta = fim.run_meta(DataMeta.from_json(data), fim_rate=0.5)
    assert meta.view == views.View("chords", chord_rate="bar")
    assert meta.special_ids.fim == (300, 301, 302)  # after the data's vocabulary, chords included
    written = meta.to_json()
    assert list(written) == ["vocab_size", "special_ids", "tokenizer_hash", "counts", "view",
                             "extra_tokens"]  # fmt: skip
    assert written["special_ids"] == {**SPECIAL, **fim.sentinel_ids(300)}
    assert DataMeta.from_json(written) == meta


def test_segments_meta_is_its_own_record():
    data = {"kind": "melody_segments", "vocab_size": 130, "bars": 2, "steps_per_bar": 16,
            "segment_steps": 32, "melody_program": 40}  # fmt: skip
    meta = meta_from_json(data)
    assert isinstance(meta, SegmentsMeta) and meta.segment_steps == 32
    assert meta.tokenizer_hash is None  # a fixed encoding, no tokenizer
    assert SegmentsMeta.from_json(meta.to_json()) == meta


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vocab_size": "300"}, "'vocab_size' must be an integer"),
        ({"special_ids": {**SPECIAL, "sep": 4}}, "unknown special tokens"),
        ({"special_ids": {"pad": 0, "bos": 1, "eos": 2}}, "'mask' must be an integer"),
        ({"tokenizer_hash": None}, "'tokenizer_hash' must be a string"),
        ({"view": {"name": "tuba"}}, "view 'tuba'"),
        ({"kind": "telepathy"}, "unknown kind 'telepathy'"),
    ],
    ids=["vocab-as-text", "unknown-special", "no-mask", "no-hash", "bad-view", "bad-kind"],
)
def test_a_malformed_meta_is_a_one_line_error(tmp_path, change, message):
    (tmp_path / "meta.json").write_text(json.dumps({**MINIMAL, **change}))
    with pytest.raises(MetaError, match=message) as err:
        load_meta(tmp_path)
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_a_folder_without_meta_says_to_prepare(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `symbolic prepare` first"):
        load_meta(tmp_path)
