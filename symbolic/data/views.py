"""Task views of a score (``prepare --view``) and their token layout, both directions.

Views:

* ``full``: every track, exactly as ``tokenization.encode`` (today's data, unchanged);
* ``melody``: one voice, the melody track (``symbolic.analysis.melody``: named as a
  melody, vocal, lead or soprano, else the best line by monophony, register and density)
  or the track named ``track`` (track name, first line, or GM program name, any case),
  made monophonic by the skyline (highest note per onset, each note cut at the next onset);
* ``drums``: the drum tracks (GM channel 10) merged, notes outside the GM drum map
  (35-81) dropped, every other track dropped;
* ``chords``: the harmony as chord tokens, one per beat or per bar (``chord_rate``),
  found by the project's chord recogniser (``chords.extract``, ``symbolic.analysis``);
* ``melody_over_chords`` / ``chords_for_melody``: melody and chords together, for
  conditioning (melody generated over given chords, or chords for a given melody).

Chord tokens are 121 ids appended after the tokenizer's vocabulary (``Chord_N.C.``,
``Chord_C:maj``, ... in ``meta["extra_tokens"]``), so ``tokenizer.json`` and its hash stay
those of the preset. Why our own tokens and not MidiTok's ``use_chords``: MidiTok's Chord
tokens only annotate notes that are still spelled out (about 15 tokens per chord), and a
model could write a Chord token over notes that are not that chord. One token per
beat is short, always a chord of the vocabulary, and decodes to a block chord we voice.

Layout (REMI only; chord views need its Bar tokens): per bar ``Bar TimeSig`` then the
bar's chord slots and its melody tokens, chords first (``chords``,
``melody_over_chords``) or melody first (``chords_for_melody``). Why interleaved per
bar and not a whole-piece prefix: training reads random windows of the token stream,
and a prefix would be cut off from most windows; here each bar's condition sits a few
tokens before its target, so every window teaches the conditioning, and generation can
force each bar's condition as it reaches that bar (``symbolic.generation.conditioning``).

``melody_over_chords`` puts the chords first so a bar's melody is generated knowing
its chords; ``chords_for_melody`` puts the melody first so the chords are generated
knowing the bar's melody. The grammar (``symbolic.music.chords.ChordSlots``) allows exactly
``slots_per_bar`` chord tokens in every bar. Never imports jax.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
from symusic import Note, Score, Track

from symbolic import tokenization
from symbolic.analysis.melody import find_melody
from symbolic.data.chords import extract as extract_chords
from symbolic.music import chords
from symbolic.music.chords import ChordSlots
from symbolic.music.meter import beats_per_bar, parse_meter, slots_per_bar
from symbolic.music.notes import clip_to_next_onset
from symbolic.tracks import restore_tracks

if TYPE_CHECKING:  # meta.py holds a View: importing it here at run time would be a cycle
    from symbolic.data.meta import DataMeta

VIEWS = ("full", "melody", "chords", "drums", "melody_over_chords", "chords_for_melody")
CHORD_RATES = ("beat", "bar")
DRUM_PITCHES = (35, 81)  # the General MIDI drum map, Acoustic Bass Drum .. Open Triangle
_CHORD_VIEWS = ("chords", "melody_over_chords", "chords_for_melody")
_MELODY_VIEWS = ("melody", "melody_over_chords", "chords_for_melody")


class NoContent(ValueError):
    """The work has nothing this view keeps: a reason to skip it, not an error."""


@dataclass(frozen=True)
class View:
    """What ``prepare`` keeps of each work; recorded in ``meta["view"]`` (full: absent)."""

    name: str = "full"
    track: str | None = None  # melody views: a track or GM program name; None: the top voice
    chord_rate: str = "beat"  # chord views: one chord per "beat" or per "bar"
    align_downbeat: bool = False  # delay each file onto its bar lines first (`data.align`)

    def __post_init__(self) -> None:
        if self.name not in VIEWS:
            raise ValueError(f"view {self.name!r}: expected one of {', '.join(VIEWS)}")
        if self.chord_rate not in CHORD_RATES:
            raise ValueError(f"chord rate {self.chord_rate!r}: expected beat or bar")
        if self.track is not None and self.name not in _MELODY_VIEWS:
            raise ValueError(f"--track selects a melody; view {self.name!r} has none")

    @property
    def has_chords(self) -> bool:
        return self.name in _CHORD_VIEWS

    @property
    def has_melody(self) -> bool:
        return self.name in _MELODY_VIEWS

    @property
    def chords_first(self) -> bool:
        return self.name != "chords_for_melody"

    def to_json(self) -> dict:
        """The ``meta["view"]`` entry: the name and the options that apply to it."""
        out: dict = {"name": self.name}
        if self.has_melody:
            out["track"] = self.track
        if self.has_chords:
            out["chord_rate"] = self.chord_rate
        if self.align_downbeat:
            out["align_downbeat"] = True
        return out

    @classmethod
    def from_json(cls, entry: dict | None) -> View:
        """The view of a ``meta["view"]`` entry (None: the entry is absent, the full view)."""
        entry = entry or {"name": "full"}
        return cls(
            entry["name"],
            entry.get("track"),
            entry.get("chord_rate", "beat"),
            bool(entry.get("align_downbeat", False)),
        )


# --- score filters -------------------------------------------------------------------------


def _pitched(score: Score) -> list[Track]:
    return [track for track in score.tracks if not track.is_drum and len(track.notes)]


def _names(track: Track) -> set[str]:
    first_line = track.name.replace("\r", "\n").split("\n")[0].strip().lower()
    return {first_line, tokenization.program_name(track.program).lower()} - {""}


def melody_track(score: Score, name: str | None = None) -> Track:
    """The melody: the track the project's melody finder ranks first
    (``symbolic.analysis.melody``: a track named as a melody or a soprano, else the best
    monophony, register and density; never percussion); with ``name`` (``--track``, the
    override), the highest of the tracks with that name.

    Raises:
        NoContent: no pitched track, or none named ``name``.
    """
    if name is None:
        choice = find_melody(score)
        if choice is None:
            raise NoContent("no pitched track for a melody")
        return score.tracks[choice.index]
    tracks = _pitched(score)
    wanted = name.strip().lower()
    named = [t for t in tracks if wanted in _names(t)]
    if not named:
        have = sorted({n for t in tracks for n in _names(t)})
        raise NoContent(f"no track named {name!r} (tracks: {', '.join(have) or 'none'})")
    return max(named, key=lambda t: float(np.mean(t.notes.numpy()["pitch"])))


def skyline(track: Track) -> Track:
    """A monophonic copy: the highest note of each onset, cut where the next onset starts."""
    n = track.notes.numpy()
    order = np.lexsort((-n["pitch"], n["time"]))
    first = order[np.r_[True, np.diff(n["time"][order]) != 0]]  # highest pitch per onset
    time = n["time"][first]
    duration = clip_to_next_onset(time, n["duration"][first])
    out = track.copy()
    out.notes = Note.from_numpy(
        time, duration.astype(n["duration"].dtype), n["pitch"][first], n["velocity"][first]
    )
    return out


def _with_tracks(score: Score, tracks: list[Track]) -> Score:
    out = score.copy()
    out.tracks = tracks
    return out


def melody_score(score: Score, name: str | None = None) -> Score:
    """The score with only its melody (``melody_track``, skylined); tempo and meter kept."""
    return _with_tracks(score, [skyline(melody_track(score, name))])


def drum_score(score: Score) -> Score:
    """The score with only its drum tracks, merged into one, GM drum-map pitches only.

    Raises:
        NoContent: no drum track, or no note in the drum map.
    """
    drums = [track for track in score.tracks if track.is_drum and len(track.notes)]
    if not drums:
        raise NoContent("no drum track (GM channel 10)")
    merged = drums[0].copy()
    arrays = [track.notes.numpy() for track in drums]
    n = {key: np.concatenate([a[key] for a in arrays]) for key in arrays[0]}
    keep = (n["pitch"] >= DRUM_PITCHES[0]) & (n["pitch"] <= DRUM_PITCHES[1])
    if not keep.any():
        raise NoContent(f"no drum notes in the GM drum map ({DRUM_PITCHES[0]}-{DRUM_PITCHES[1]})")
    order = np.argsort(n["time"][keep], kind="stable")
    fields = ("time", "duration", "pitch", "velocity")
    merged.notes = Note.from_numpy(*(n[key][keep][order] for key in fields))
    return _with_tracks(score, [merged])


# --- chord slots and bars ------------------------------------------------------------------


def extra_tokens(tokenizer, view: View) -> dict[str, int]:
    """``{name: id}`` of the ids a view adds after the tokenizer's vocabulary."""
    if not view.has_chords:
        return {}
    first = len(tokenizer.vocab)
    return {name: first + i for i, name in enumerate(chords.token_names())}


def chord_slots(tokenizer, view: View) -> ChordSlots | None:
    """The grammar's chord layout for a view (None without chords)."""
    if not view.has_chords:
        return None
    per_bar = {
        tok.split("_", 1)[1]: slots_per_bar(parse_meter(tok.split("_", 1)[1]), view.chord_rate)
        for tok in tokenizer.vocab
        if tok.startswith("TimeSig_")
    }
    return ChordSlots(tuple(extra_tokens(tokenizer, view).values()), per_bar, view.chords_first)


def forbidden_ids(tokenizer, view: View) -> list[int]:
    """Ids a view's data never holds, which generation must not write either: a melodic
    program or a drum outside the GM drum map in ``drums``, a note in ``chords``."""
    out = []
    for token, i in tokenizer.vocab.items():
        kind, _, value = token.partition("_")
        if view.name == "drums" and kind == "Program":
            out += [i] if int(value) >= 0 else []
        elif view.name == "drums" and kind in ("PitchDrum", "DrumOn"):
            out += [] if DRUM_PITCHES[0] <= int(value) <= DRUM_PITCHES[1] else [i]
        elif view.name == "chords" and kind == "Position":
            out.append(i)
    return out


def bars(tokenizer, ids) -> list[list[int]]:
    """Split a REMI stream (no BOS) into bars, each starting with its ``Bar`` token."""
    bar = tokenizer.vocab["Bar_None"]
    out: list[list[int]] = []
    for token in ids:
        if token == bar:
            out.append([])
        elif not out:
            raise ValueError("the token stream does not start with a Bar")
        out[-1].append(int(token))
    return out


def meters(tokenizer, ids) -> list[tuple[int, int]]:
    """``(numerator, denominator)`` of every bar of a REMI stream (from its TimeSig tokens)."""
    inverse = {i: tok for tok, i in tokenizer.vocab.items()}
    out = []
    for bar in bars(tokenizer, ids):
        names = [inverse.get(token, "") for token in bar[:2]]
        if len(names) < 2 or not names[1].startswith("TimeSig_"):
            raise ValueError("a bar does not start with Bar TimeSig (a REMI stream?)")
        out.append(parse_meter(names[1].split("_", 1)[1]))
    return out


def windows(bar_meters: list[tuple[int, int]], rate: str) -> list[tuple[Fraction, Fraction]]:
    """The chord slots of consecutive bars as ``(start, end)`` in quarter notes."""
    out, start = [], Fraction(0)
    for meter in bar_meters:
        length = Fraction(4 * meter[0], meter[1])
        count = slots_per_bar(meter, rate)
        edges = [start + length * j / count for j in range(count + 1)]
        out += list(pairwise(edges))
        start += length
    return out


@dataclass(frozen=True)
class Harmony:
    """Chord labels per bar (``slots_per_bar`` each) and each bar's meter."""

    meters: tuple[tuple[int, int], ...]
    labels: tuple[tuple[int, ...], ...]

    def transposed(self, semitones: int) -> Harmony:
        moved = tuple(tuple(chords.transpose(v, semitones) for v in bar) for bar in self.labels)
        return Harmony(self.meters, moved)


def _group(flat: list[int], bar_meters, rate: str) -> tuple[tuple[int, ...], ...]:
    out, at = [], 0
    for meter in bar_meters:
        count = slots_per_bar(meter, rate)
        out.append(tuple(flat[at : at + count]))
        at += count
    return tuple(out)


def harmony(tokenizer, score: Score, rate: str, extract=extract_chords) -> Harmony:
    """The chords of ``score`` per slot of the tokenizer's bars (``chords.extract``);
    ``extract(score, windows) -> labels`` may be ``chords.extract`` through a cache.

    Raises:
        NoContent: the score has no chord at all (only N.C.).
    """
    bar_meters = meters(tokenizer, tokenization.encode(tokenizer, score))
    flat = extract(score, windows(bar_meters, rate))
    if all(v == chords.NO_CHORD for v in flat):
        raise NoContent("no chords (no pitched notes)")
    return Harmony(tuple(bar_meters), _group(flat, bar_meters, rate))


def harmony_from_progression(text: str, meter: tuple[int, int], rate: str) -> Harmony:
    """``"C G Am F"`` (a chord a bar) or ``"C:2 G:2 Am F"`` (beats) in ``meter``.

    Raises:
        ValueError: fractional beats, a progression that is not whole bars, or (rate bar)
            a chord change inside a bar.
    """
    per_bar = beats_per_bar(*meter)
    beats: list[int] = []
    for value, length in chords.parse_progression(text):
        count = Fraction(per_bar if length is None else length)
        if count.denominator != 1:
            raise ValueError(f"chords {text!r}: durations must be whole beats")
        beats += [value] * int(count)
    if len(beats) % per_bar:
        raise ValueError(
            f"chords {text!r}: {len(beats)} beats is not a whole number of "
            f"{meter[0]}/{meter[1]} bars ({per_bar} beats each)"
        )
    bar_list = [beats[i : i + per_bar] for i in range(0, len(beats), per_bar)]
    if rate == "bar" and any(len(set(bar)) > 1 for bar in bar_list):
        raise ValueError(
            f"chords {text!r}: this run has one chord per bar (--chord-rate bar); "
            "chords that change inside a bar need a run prepared with --chord-rate beat"
        )
    labels = tuple(tuple(bar[:1]) if rate == "bar" else tuple(bar) for bar in bar_list)
    return Harmony(tuple([meter] * len(bar_list)), labels)


# --- encode and decode ---------------------------------------------------------------------


def select(
    tokenizer, score: Score, view: View, extract=extract_chords
) -> tuple[Score | None, Harmony | None]:
    """The notes a view tokenizes (None for ``chords``) and its harmony (None without chords;
    ``extract`` as in ``harmony``).

    Raises:
        NoContent: nothing for this view in the score (the reason says what is missing).
    """
    chord_info = harmony(tokenizer, score, view.chord_rate, extract) if view.has_chords else None
    if view.name == "drums":
        return drum_score(score), None
    if view.has_melody:
        return melody_score(score, view.track), chord_info
    return (None if view.name == "chords" else score), chord_info


def lead_sheet(tokenizer, view: View, chord_info: Harmony, melody_ids: list[int]) -> list[int]:
    """Interleave per bar: ``Bar TimeSig`` + chord tokens + melody tokens (or melody first).

    ``melody_ids``: the melody's REMI stream (no BOS/EOS; empty for ``chords``); it may end
    before the harmony does (bars without melody are padded).
    """
    first = len(tokenizer.vocab)
    bar_id = tokenizer.vocab["Bar_None"]
    melody_bars = bars(tokenizer, melody_ids) if melody_ids else []
    if melody_bars and meters(tokenizer, melody_ids) != list(chord_info.meters[: len(melody_bars)]):
        raise ValueError("the melody's bars do not match the harmony's bars")
    out = []
    for i, (meter, labels) in enumerate(zip(chord_info.meters, chord_info.labels, strict=True)):
        body = melody_bars[i][2:] if i < len(melody_bars) else []
        slots = [first + value for value in labels]
        out += [bar_id, tokenizer.vocab[f"TimeSig_{meter[0]}/{meter[1]}"]]
        out += slots + body if view.chords_first else body + slots
    return out


def encode(tokenizer, view: View, notes: Score | None, chord_info: Harmony | None) -> list[int]:
    """The view's token ids (no BOS/EOS) from what ``select`` returned (maybe transposed)."""
    melody_ids = tokenization.encode(tokenizer, notes) if notes is not None else []
    if chord_info is None:
        return melody_ids
    return lead_sheet(tokenizer, view, chord_info, melody_ids)


def encode_score(tokenizer, meta: DataMeta, score: Score) -> list[int]:
    """A score in a prepared data set's view (``meta.view``), e.g. a prompt MIDI."""
    view = meta.view
    return encode(tokenizer, view, *select(tokenizer, score, view))


def chord_track(tokenizer, view: View, ids, ticks_per_quarter: int) -> Track:
    """The block chords of the chord tokens in a view's stream ``ids`` (ints): one chord per
    run of equal slots inside a bar (held, not struck again), N.C. silent."""
    first, bar_id = len(tokenizer.vocab), tokenizer.vocab["Bar_None"]
    inverse = {i: tok for tok, i in tokenizer.vocab.items()}
    runs: list[list] = []  # [onset, length, label, bar] in quarter notes
    start, length, bar, slot, meter = Fraction(0), Fraction(0), -1, 0, (4, 4)
    for token in (int(t) for t in ids):
        if token == bar_id:
            start, length, bar, slot = start + length, Fraction(4), bar + 1, 0
        elif inverse.get(token, "").startswith("TimeSig_"):
            meter = parse_meter(inverse[token].split("_", 1)[1])
            length = Fraction(4 * meter[0], meter[1])
        elif first <= token < first + chords.NUM_LABELS and bar >= 0:
            width = length / slots_per_bar(meter, view.chord_rate)
            if runs and runs[-1][2:] == [token - first, bar]:
                runs[-1][1] += width
            else:
                runs.append([start + slot * width, width, token - first, bar])
            slot += 1
    track = Track(name=chords.CHORD_TRACK_NAME, program=chords.CHORD_PROGRAM)
    for onset, width, value, _ in runs:
        tick, ticks = round(onset * ticks_per_quarter), round(width * ticks_per_quarter)
        for pitch in chords.pitches(value):
            track.notes.append(Note(tick, ticks, pitch, chords.CHORD_VELOCITY))
    return track


def decode(tokenizer, meta: DataMeta, ids) -> Score:
    """A view's ids (``[length]`` ints; specials dropped) -> ``symusic.Score``, each track with
    the program and name its stream program stands for in ``meta.tracks``; chord tokens become
    a block-chord track named ``Chords``."""
    view = meta.view
    ids = [int(i) for i in np.asarray(ids).reshape(-1)]
    first = len(tokenizer.vocab)
    score = tokenization.decode(tokenizer, [i for i in ids if i < first])
    if meta.tracks:
        restore_tracks(score, meta.tracks)
    if view.has_chords:
        track = chord_track(tokenizer, view, ids, score.ticks_per_quarter)
        if len(track.notes):
            score.tracks.append(track)
    return score
