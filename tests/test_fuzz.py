"""Fuzzing prepare's reader (issue 15, CI): real MIDI files, mutated by hypothesis (byte flips,
truncation, chunk lengths, track counts, running status), go through the per-file path of
`prepare` (check, read, tokenize), then a folder of them through `prepare` itself.

Asserted: no exception escapes; every file is prepared (valid ids) or skipped with a one-line
reason; the good files' tokens are unchanged by the bad ones beside them. The seeds are the
smallest POP909 songs when ../shared/data is present, and always a file written here byte by
byte with running status (so the running-status mutations know where its events are).
Bounded: FUZZ_EXAMPLES examples, no deadline per example (a flipped delta can make a file long).
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbolic import tokenization
from symbolic.data import prepare as prepare_lib
from symbolic.data.manifest import Work
from tests.helpers import SHARED_DATA

FUZZ_EXAMPLES = 400
SEED_SONGS = 2  # the smallest POP909 files: each example tokenizes one in ~50 ms
STATS = {"examples": 0, "prepared": 0, "skipped": 0, "seconds": 0.0}


def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def running_status_midi() -> tuple[bytes, list[int]]:
    """A two-track MIDI file (a tempo track, then 32 notes as note-on pairs with running
    status after the first) and the offsets of its explicit status bytes."""
    tempo = b"\x00\xff\x51\x03\x07\xa1\x20\x00\xff\x58\x04\x03\x02\x18\x08\x00\xff\x2f\x00"
    body, statuses = bytearray(), []
    for i in range(32):
        pitch = 48 + (i * 7) % 36
        if i % 8 == 0:  # an explicit status now and then, running status in between
            statuses.append(len(body) + 1)
            body += b"\x00\x90" + bytes([pitch, 90])
        else:
            body += b"\x00" + bytes([pitch, 90])
        body += _vlq(240) + bytes([pitch, 0])  # note-on velocity 0 is a note-off
    body += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 1, 2, 480)
    first = header + b"MTrk" + struct.pack(">I", len(tempo)) + tempo
    track_start = len(first) + 8
    data = first + b"MTrk" + struct.pack(">I", len(body)) + bytes(body)
    return data, [track_start + offset for offset in statuses]


def _seeds() -> dict[str, bytes]:
    songs = sorted(
        (SHARED_DATA / "pop909").glob("[0-9][0-9][0-9]/[0-9][0-9][0-9].mid"),
        key=lambda p: p.stat().st_size,
    )
    seeds = {p.name: p.read_bytes() for p in songs[:SEED_SONGS]}
    seeds["running.mid"] = running_status_midi()[0]
    return seeds


SEEDS = _seeds()


def _chunk_offsets(data: bytes) -> list[int]:
    """Offsets of the chunk headers ("MThd", "MTrk", ...) of a MIDI file, as its lengths say."""
    offsets, offset = [], 0
    while offset + 8 <= len(data):
        offsets.append(offset)
        offset += 8 + struct.unpack(">I", data[offset + 4 : offset + 8])[0]
    return offsets


@st.composite
def mutated(draw) -> tuple[str, bytes]:
    """(how, bytes): one seed with one kind of damage."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    kind = draw(st.sampled_from(["flip", "truncate", "chunk_length", "tracks", "running"]))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] ^= draw(st.integers(1, 255))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "chunk_length":
        at = draw(st.sampled_from(_chunk_offsets(bytes(data))))
        length = draw(
            st.one_of(st.sampled_from([0, 1, 5, 0x7FFFFFFF, 0xFFFFFFFF]), st.integers(0, 2**32 - 1))
        )
        data[at + 4 : at + 8] = struct.pack(">I", length)
    elif kind == "tracks":
        count = draw(st.one_of(st.sampled_from([0, 1, 3, 255, 65535]), st.integers(0, 65535)))
        data[10:12] = struct.pack(">H", count)
    else:  # running status: drop an explicit status byte, or set a wrong one
        if name != "running.mid":
            name, data = "running.mid", bytearray(SEEDS["running.mid"])
        at = draw(st.sampled_from(running_status_midi()[1]))
        if draw(st.booleans()):
            del data[at]
        else:
            data[at] = draw(st.sampled_from([0x80, 0xA0, 0xC0, 0xF0, 0xF7, 0xFF, 0x45]))
    return f"{kind} of {name}", bytes(data)


@pytest.fixture(scope="module")
def reader():
    """prepare's per-file function in this process, with the REMI tokenizer loaded."""
    prepare_lib._init_worker(str(tokenization.resolve_tokenizer_path("remi")))
    return prepare_lib._process


def _task(path: Path, split: str = "train") -> prepare_lib._Task:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()  # as a manifest of the folder records
    return prepare_lib._Task(Work(path.name, path.name, sha, split), path.parent, (0,), None)


def _tokens(result) -> list[list[int]]:
    return [ids.tolist() for _, ids in result.sequences]


def _check(result, vocab: int) -> bool:
    """A result is prepared (ids in the vocabulary) or skipped with a one-line reason; True if
    prepared."""
    if result.error is not None:
        assert result.error.strip() and "\n" not in result.error, result.error
        assert not result.sequences
        return False
    assert result.sequences and all(ids.size > 0 for _, ids in result.sequences)
    assert all(ids.min() >= 0 and ids.max() < vocab for _, ids in result.sequences)
    return True


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every CI run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(case=mutated())
def test_mutated_midi_is_prepared_or_skipped_and_never_raises(case, reader, tmp_path):
    how, data = case
    vocab = len(prepare_lib._TOKENIZER.vocab)
    started = time.perf_counter()
    path = tmp_path / "fuzz.mid"
    path.write_bytes(data)
    result = reader(_task(path))  # an exception escaping here fails the test
    prepared = _check(result, vocab)
    good = tmp_path / "good.mid"
    good.write_bytes(SEEDS["running.mid"])
    assert _tokens(reader(_task(good))) == good_tokens()["running.mid"], how
    STATS["examples"] += 1
    STATS["prepared" if prepared else "skipped"] += 1
    STATS["seconds"] += time.perf_counter() - started


@functools.cache
def good_tokens() -> dict[str, list[list[int]]]:
    """Each seed's tokens, prepared alone and undamaged."""
    import tempfile

    prepare_lib._init_worker(str(tokenization.resolve_tokenizer_path("remi")))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in SEEDS.items():
            (Path(tmp) / name).write_bytes(data)
            result = prepare_lib._process(_task(Path(tmp) / name))
            assert result.error is None, (name, result.error)
            out[name] = _tokens(result)
    return out


def test_a_folder_of_damaged_files_beside_good_ones_prepares_the_good_ones_unchanged(tmp_path):
    """prepare itself, with workers: every file prepared or skipped, the good ones' tokens as
    when they are prepared alone."""
    from symbolic.data import manifest as mf
    from symbolic.data.batches import load_split

    folder = tmp_path / "midi"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, data in SEEDS.items():
        (folder / f"good_{name}").write_bytes(data)
        for i in range(4):
            bad = bytearray(data)
            for at in rng.integers(14, len(bad), size=4):
                bad[at] ^= int(rng.integers(1, 256))
            (folder / f"flip{i}_{name}").write_bytes(bytes(bad))
        (folder / f"cut_{name}").write_bytes(data[: len(data) // 2])
        (folder / f"huge_{name}").write_bytes(data[:18] + b"\xff\xff\xff\xf0" + data[22:])
    manifest_path = mf.write_folder_manifest(folder, tmp_path / "m.json")
    manifest = json.loads(manifest_path.read_text())
    for work in manifest["works"]:
        work["split"] = "train"  # one split: the good files' sequences in a known order
    manifest_path.write_text(json.dumps(manifest))
    meta = prepare_lib.prepare(
        manifest_path, "remi", tmp_path / "data", workers=2, progress=False, cache_dir=None
    )
    sources = json.loads((tmp_path / "data" / "train_sources.json").read_text())
    skipped = {item.file: item.reason for item in meta.skipped}
    prepared = [source["work"] for source in sources]
    names = sorted(p.name for p in folder.iterdir())
    assert sorted(prepared + list(skipped)) == names  # each file once, prepared or skipped
    assert all(reason.strip() and "\n" not in reason for reason in skipped.values())
    split = load_split(tmp_path / "data", "train")
    for name in SEEDS:
        index = prepared.index(f"good_{name}")
        start, stop = split.offsets[index], split.offsets[index + 1]
        assert split.tokens[start + 1 : stop - 1].tolist() == good_tokens()[name][0], name


def test_the_fuzz_ran_its_examples():
    """Run after the fuzz test: how many examples ran, and how long they took (printed for the
    report; -s shows it)."""
    if STATS["examples"] == 0:
        pytest.skip("the fuzz test did not run in this session")
    assert STATS["examples"] >= FUZZ_EXAMPLES // 2  # hypothesis may stop early, not run more
    assert STATS["prepared"] > 0 and STATS["skipped"] > 0  # the mutations reach both outcomes
    print(
        f"\nfuzz: {STATS['examples']} examples ({STATS['prepared']} prepared, "
        f"{STATS['skipped']} skipped) in {STATS['seconds']:.1f} s"
    )
