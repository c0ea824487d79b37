"""Every source track its own track in one token stream, and its name and program back on decode.

Why this module exists: MidiTok's single stream (``use_programs`` with
``one_token_stream_for_programs``) tells tracks apart only by their ``Program`` token, so tracks
that share a GM program merge on the way in. POP909's MELODY, BRIDGE and PIANO are all program 0
and became one track, losing the melody/accompaniment split and the unisons between them (3.5%
of the notes). MidiTok has no track token, so the ``Program`` token carries the track instead:

* ``stream_programs`` keeps each track's program, except that a pitched track whose program an
  earlier track already holds moves to the next program of its GM family (pianos stay pianos:
  0 -> 1 -> 2 ...), then to any program no track of the piece holds. The rule is deterministic,
  so one folder's roles line up across its works (POP909: MELODY 0, BRIDGE 1, PIANO 2).
* ``track_table`` records what each stream program stood for (the source program and track
  name), ``common_table`` the most frequent entry of each stream program over a data set, and
  ``restore_tracks`` puts them back on a decoded score, in the source's track order.

Drum tracks all sound on MIDI channel 10 as ``Program_-1``; two drum tracks of one piece still
share a stream. Never imports jax or miditok.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from symusic.core import ScoreTick

DRUMS = -1  # MidiTok's program of drum tracks
GM_FAMILY = 8  # GM groups its 128 programs in families of 8 (pianos 0-7, organs 16-23, ...)


@dataclass(frozen=True)
class StreamTrack:
    """What the ``Program`` tokens of ``stream_program`` stand for: a source track's program
    (``-1``: drums) and its name as written in the file ("" when it had none)."""

    stream_program: int
    program: int
    name: str


def _program(track) -> int:
    return DRUMS if track.is_drum else int(track.program)


def _family_then_rest(program: int) -> list[int]:
    """Programs to try for a second track of `program`: the rest of its GM family, in order
    from `program` on, then every program."""
    base = program - program % GM_FAMILY
    family = [base + (program - base + k) % GM_FAMILY for k in range(1, GM_FAMILY)]
    return [*family, *range(128)]


def stream_programs(score: ScoreTick) -> list[int]:
    """The program each track of `score` takes in the token stream (see the module docstring).

    Raises:
        ValueError: more than 128 pitched tracks (no program is left to keep one apart).
    """
    taken = {_program(track) for track in score.tracks}
    seen: set[int] = set()
    out = []
    for track in score.tracks:
        program = _program(track)
        if program != DRUMS and program in seen:
            free = [p for p in _family_then_rest(program) if p not in taken]
            if not free:
                raise ValueError(f"{len(score.tracks)} tracks: no GM program left for another")
            program = free[0]
            taken.add(program)
        seen.add(program)
        out.append(program)
    return out


def separate_tracks(score: ScoreTick) -> ScoreTick:
    """A copy of `score` whose tracks carry their stream programs."""
    score = score.copy()
    for track, program in zip(score.tracks, stream_programs(score), strict=True):
        if program != DRUMS:
            track.program = program
    return score


def track_table(score: ScoreTick) -> tuple[StreamTrack, ...]:
    """Each stream program of `score`'s tracks with notes, and what it stands for, in the
    score's track order (a later drum track shares the first one's entry)."""
    table: dict[int, StreamTrack] = {}
    for track, stream in zip(score.tracks, stream_programs(score), strict=True):
        if len(track.notes) and stream not in table:
            table[stream] = StreamTrack(stream, _program(track), track.name)
    return tuple(table.values())


def common_table(tables: list[tuple[StreamTrack, ...]]) -> tuple[StreamTrack, ...]:
    """The most frequent entry of every stream program over `tables` (ties: the first seen),
    by stream program, drums last: what a generated stream's programs stand for."""
    counts: Counter = Counter(entry for table in tables for entry in table)
    best: dict[int, StreamTrack] = {}
    for entry, _ in counts.most_common():
        best.setdefault(entry.stream_program, entry)
    return tuple(sorted(best.values(), key=lambda e: (e.stream_program == DRUMS, e.stream_program)))


def restore_tracks(score: ScoreTick, table: tuple[StreamTrack, ...]) -> ScoreTick:
    """`score` (decoded, in place) with each track's source program and name from `table`, the
    tracks in the table's order; a track the table does not name keeps its program and name,
    after them."""
    entries = {entry.stream_program: (i, entry) for i, entry in enumerate(table)}
    ranked = sorted(score.tracks, key=lambda t: entries.get(_program(t), (len(table),))[0])
    for track in ranked:
        if _program(track) in entries:
            entry = entries[_program(track)][1]
            track.name = entry.name
            if entry.program != DRUMS:
                track.program = entry.program
    score.tracks = ranked
    return score
