"""Files `prepare` keeps but should not keep without a word: what is odd about them, in words.

A MIDI file can be readable and still hold values that the readers replace silently: a tempo
of 0 (infinite BPM, read as the tokenizer's fastest), a time signature of 0/0 or 255/255 (read
as 4/4) or one the tokenizer lacks (11/8: its bars are read in the meter before it), a header
that declares 65,535 tracks for a file of two; or it can be one endless work that is a quarter
of all train tokens. `prepare` records these in meta.json ("flagged") and
prints them as warnings, and `--max-tokens-per-work` cuts such long works at a bar line.
Never imports jax.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
from symusic import Score

from symbolic.tokenization import tokenized_meter

MAX_TRAIN_SHARE = 0.25  # a work holding more of the train tokens dominates what is learned
MIN_WORKS_FOR_SHARE = 8  # in fewer works, a quarter each is ordinary
HEADER_BYTES = 14  # "MThd", its length (6) and format, track count, division


def header_tracks(path: Path) -> tuple[int, int] | None:
    """(tracks the MThd header declares, MTrk chunks the file holds), or None for a file
    that is not a standard MIDI file (a score, or a RIFF-wrapped one)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if data[:4] != b"MThd" or len(data) < HEADER_BYTES:
        return None
    declared = struct.unpack(">H", data[10:12])[0]
    offset, chunks = 8 + struct.unpack(">I", data[4:8])[0], 0
    while offset + 8 <= len(data):
        kind, length = data[offset : offset + 4], struct.unpack(">I", data[offset + 4 : offset + 8])
        chunks += kind == b"MTrk"
        offset += 8 + length[0]
    return declared, chunks


def file_oddities(path: Path, score: Score) -> list[str]:
    """What a reader silently replaced in the file at PATH, read as `score` (one phrase each)."""
    found = []
    if any(tempo.mspq <= 0 for tempo in score.tempos):
        found.append("a tempo of 0 (infinite BPM), read as the tokenizer's fastest tempo")
    odd_meters = sorted(
        {
            f"{ts.numerator}/{ts.denominator}"
            for ts in score.time_signatures
            if not valid_meter(ts.numerator, ts.denominator)
        }
    )
    if odd_meters:
        found.append(f"time signature {', '.join(odd_meters)}, read as 4/4")
    tracks = header_tracks(path)
    if tracks is not None and tracks[0] != tracks[1]:
        found.append(f"its header declares {tracks[0]:,} tracks, the file holds {tracks[1]:,}")
    return found


def valid_meter(numerator: int, denominator: int) -> bool:
    """Whether a reader keeps this time signature (others are read as 4/4, see file_oddities)."""
    return 1 <= numerator <= 64 and 1 <= denominator <= 64


def unsupported_meters(score: Score, supported: set[tuple[int, int]]) -> dict[str, int]:
    """{meter as written: bars} of the score's valid meters whose tokenized form
    (``tokenization.tokenized_meter``) is not in ``supported``: the tokenizer drops them, and
    their bars are read in the meter before them (4/4 at the start)."""
    signatures = sorted(score.time_signatures, key=lambda ts: ts.time)
    ends = [ts.time for ts in signatures[1:]] + [score.end()] if signatures else []
    found: dict[str, int] = {}
    for ts, end in zip(signatures, ends, strict=True):
        if not valid_meter(ts.numerator, ts.denominator):
            continue
        if tokenized_meter(ts.numerator, ts.denominator) in supported:
            continue
        bar = score.ticks_per_quarter * 4 * ts.numerator / ts.denominator
        bars = math.ceil(max(end - ts.time, 0) / bar)
        if bars:
            meter = f"{ts.numerator}/{ts.denominator}"
            found[meter] = found.get(meter, 0) + bars
    return found


def meter_flag(meters: dict[str, int]) -> str:
    """The flag of a file with meters outside the tokenizer's, e.g. ``{"11/8": 12}``."""
    listed = ", ".join(f"{meter} ({bars:,} bars)" for meter, bars in sorted(meters.items()))
    return f"time signature {listed} not in the tokenizer, read as the meter before it"


def cap_tokens(ids: np.ndarray, max_tokens: int, bar_id: int | None) -> np.ndarray:
    """The first `max_tokens` of ids [length] int32, cut before the last Bar token that fits (a
    whole number of bars) when there is one after the start, else at `max_tokens`."""
    if ids.size <= max_tokens:
        return ids
    if bar_id is not None:
        bars = np.flatnonzero(ids[1 : max_tokens + 1] == bar_id) + 1
        if bars.size:
            return ids[: bars[-1]]
    return ids[:max_tokens]


def dominant_works(tokens_per_work: dict[str, int]) -> dict[str, float]:
    """{work: share} of the train works holding more than MAX_TRAIN_SHARE of all train tokens
    (none when there are fewer than MIN_WORKS_FOR_SHARE works)."""
    total = sum(tokens_per_work.values())
    if len(tokens_per_work) < MIN_WORKS_FOR_SHARE or total == 0:
        return {}
    shares = {work: count / total for work, count in tokens_per_work.items()}
    return {work: share for work, share in shares.items() if share > MAX_TRAIN_SHARE}
