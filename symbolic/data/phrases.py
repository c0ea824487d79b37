"""Bar-aligned multi-track piano-roll phrases for MuseGAN-style GANs (numpy only, never jax).

A phrase is `bars` consecutive bars of the chosen tracks on a grid of `steps_per_beat` steps per
beat over the pitches `low..high-1`: a boolean piano roll `[tracks, bars * steps_per_bar,
pitches]` (True where a note sounds) plus a boolean onset roll of the same shape (True where a
note starts), so that two repeated notes of one pitch stay two notes and a phrase round-trips to
MIDI. A prepared phrases folder holds `{split}.npz` with both rolls bit-packed along the pitch
axis (`pianoroll`, `onsets`: `[N, tracks, steps, ceil(pitches / 8)] uint8`; `load_phrases`
unpacks them), `work [N] int32` (an index into `meta.works[split]`), `bar [N] int32` (the first
bar), `transpose [N] int32`, and `meta.json` (`PhrasesMeta`).

Bars: a MIDI file with a `beat_midi.txt` beside it (POP909: one beat a line, `time_sec flag_a
flag_b`, flag_b = 1 on downbeats) takes its beats and downbeats from that file, since most
POP909 files declare 1/4. Any other work needs one time signature throughout, `beats_per_bar`
quarters long (4/4 by default); a MusicXML score's pickup measure (music21 writes it at tick 0)
shifts the first downbeat. Bars of another length are dropped with the phrases that hold them
and counted, as are phrases with fewer than `min_notes` notes or with a note outside the pitch
range.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
from symusic import Note, Score, TimeSignature, Track

BEATS_FILE = "beat_midi.txt"


@dataclass(frozen=True)
class Grid:
    """The phrase grid: `bars` bars of `beats_per_bar` beats, `steps_per_beat` steps a beat,
    pitches `low..high-1`."""

    bars: int = 4
    steps_per_beat: int = 12
    beats_per_bar: int = 4
    low: int = 24
    high: int = 108

    def __post_init__(self) -> None:
        if min(self.bars, self.steps_per_beat, self.beats_per_bar) < 1:
            raise ValueError(f"{self}: bars, steps_per_beat and beats_per_bar must be >= 1")
        if not 0 <= self.low < self.high <= 128:
            raise ValueError(f"pitch range {self.low}-{self.high}: need 0 <= low < high <= 128")

    @property
    def steps_per_bar(self) -> int:
        return self.steps_per_beat * self.beats_per_bar

    @property
    def steps(self) -> int:
        return self.bars * self.steps_per_bar

    @property
    def pitches(self) -> int:
        return self.high - self.low


def parse_pitch_range(text: str) -> tuple[int, int]:
    """`"24-108"` -> (24, 108): MIDI pitches 24..107 (the high end is exclusive)."""
    found = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
    if not found:
        raise ValueError(f"--pitch-range {text!r}: expected LOW-HIGH, e.g. 24-108")
    return int(found.group(1)), int(found.group(2))


def match_tracks(score: Score, wanted: tuple[str, ...]) -> list[int]:
    """Indices in `score.tracks` of each wanted track: by name (case-insensitive, ignoring
    surrounding spaces) or by index ("0"). Raises ValueError naming a track that is missing."""
    names = [t.name.strip().lower() for t in score.tracks]
    found = []
    for want in wanted:
        key = want.strip().lower()
        if key in names:
            found.append(names.index(key))
        elif key.isdigit() and int(key) < len(names):
            found.append(int(key))
        else:
            raise ValueError(f"no track {want!r} (tracks: {[t.name for t in score.tracks]})")
    return found


# --- beats and bars -------------------------------------------------------------------------


def musicxml_pickup_quarters(path: Path) -> float:
    """Length in quarters of a MusicXML score's pickup (an incomplete first measure), 0 if none.
    Reads the first part's first measure: its notes' durations (chord tones and backups not
    counted) against its time signature."""
    root = _musicxml_root(path)
    part = root.find("part")
    measure = part.find("measure") if part is not None else None
    if measure is None:
        return 0.0
    divisions, beats, beat_type, total = 1.0, 4, 4, 0.0
    for element in measure:
        if element.tag == "attributes":
            divisions = float(element.findtext("divisions") or divisions)
            beats = int(element.findtext("time/beats") or beats)
            beat_type = int(element.findtext("time/beat-type") or beat_type)
        elif element.tag == "note" and element.find("chord") is None:
            total += float(element.findtext("duration") or 0)
        elif element.tag == "backup":
            total -= float(element.findtext("duration") or 0)
        elif element.tag == "forward":
            total += float(element.findtext("duration") or 0)
    length, full = total / divisions, beats * 4.0 / beat_type
    return length if 0 < length < full - 1e-6 else 0.0


def _musicxml_root(path: Path) -> ElementTree.Element:
    if path.suffix.lower() != ".mxl":
        return ElementTree.parse(path).getroot()
    with zipfile.ZipFile(path) as archive:
        container = ElementTree.fromstring(archive.read("META-INF/container.xml"))
        rootfile = container.find(".//rootfile")
        name = rootfile.get("full-path") if rootfile is not None else None
        return ElementTree.fromstring(archive.read(name))


@dataclass(frozen=True)
class Bars:
    """Where a work's bars are: `beat_times` [B] the beats (in the unit of `unit`: "tick" or
    "second"), `bar_beats` [K + 1] int the beat index of each downbeat (and the end), `meter`."""

    beat_times: np.ndarray
    bar_beats: np.ndarray
    unit: str
    meter: str

    def beat_positions(self, times: np.ndarray) -> np.ndarray:
        """Times -> fractional beat indices (linear between beats, extrapolated at the ends)."""
        t, idx = self.beat_times, np.arange(len(self.beat_times), dtype=np.float64)
        pos = np.interp(times, t, idx)
        if len(t) >= 2:
            first, last = (t[1] - t[0]), (t[-1] - t[-2])
            pos = np.where(times < t[0], (times - t[0]) / first, pos)
            pos = np.where(times > t[-1], idx[-1] + (times - t[-1]) / last, pos)
        return pos


def beat_file_bars(beats_path: Path, end_second: float) -> Bars:
    """Bars from a POP909 `beat_midi.txt` (seconds): a bar runs from one downbeat to the next."""
    table = np.loadtxt(beats_path, ndmin=2)
    if table.shape[1] < 3 or len(table) < 2:
        raise ValueError(f"{beats_path}: expected lines of 'time_sec flag_a flag_b'")
    times = table[:, 0]
    step = float(np.median(np.diff(times)))
    extra = np.arange(1, 9) * step + times[-1]  # a few beats past the last, for the last bar
    beat_times = np.concatenate([times, extra[extra <= end_second + 8 * step]])
    downbeats = np.flatnonzero(table[:, 2] == 1)
    if len(downbeats) == 0:
        raise ValueError(f"{beats_path}: no downbeat (flag_b = 1)")
    bar_beats = np.concatenate([downbeats, [downbeats[-1] + 4]])
    return Bars(beat_times, bar_beats[bar_beats <= len(beat_times) - 1], "second", "4/4")


def meter_bars(score: Score, beats_per_bar: int, pickup_quarters: float = 0.0) -> Bars:
    """Bars of a score in one time signature of `beats_per_bar` quarters, the first downbeat
    after the pickup; ValueError ("meter N/D") for any other."""
    sigs = {(ts.numerator, ts.denominator) for ts in score.time_signatures} or {(4, 4)}
    meter = "/".join(map(str, sigs.pop())) if len(sigs) == 1 else "mixed"
    if meter == "mixed" or int(meter.split("/")[0]) * 4 != beats_per_bar * int(meter[-1]):
        raise ValueError(f"meter {meter}")
    tpq = score.ticks_per_quarter
    first = int(round(pickup_quarters * tpq))
    end_beats = int(np.ceil((score.end() - first) / tpq)) + beats_per_bar
    beat_times = first + np.arange(end_beats + 1, dtype=np.float64) * tpq
    bar_beats = np.arange(0, end_beats + 1, beats_per_bar)
    return Bars(beat_times, bar_beats, "tick", meter)


def work_bars(score: Score, path: Path, beats_per_bar: int) -> Bars:
    """A work's bars: from `beat_midi.txt` beside a MIDI file if there is one, else its meter
    (with a MusicXML pickup)."""
    beats = path.parent / BEATS_FILE
    if beats.is_file() and path.suffix.lower() in (".mid", ".midi"):
        if beats_per_bar != 4:
            raise ValueError(f"{beats}: beat files give 4/4 bars, not {beats_per_bar} beats")
        return beat_file_bars(beats, float(score.to("second").end()))
    pickup = 0.0
    if path.suffix.lower() in (".mxl", ".musicxml", ".xml"):
        pickup = musicxml_pickup_quarters(path)
    return meter_bars(score, beats_per_bar, pickup)


# --- rolls and phrases ------------------------------------------------------------------------


def track_rolls(
    score: Score, track_ids: list[int], bars: Bars, grid: Grid
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole work on the grid from its first downbeat: (roll, onsets [tracks, S, P] bool,
    outside [tracks, S] bool: a note outside the pitch range sounds). A note lasts at least
    one step; a note of a pitch that starts again is cut there."""
    timed = score.to("second") if bars.unit == "second" else score
    start_beat = int(bars.bar_beats[0])
    total = int(bars.bar_beats[-1] - start_beat) * grid.steps_per_beat
    roll = np.zeros((len(track_ids), total, grid.pitches), bool)
    onsets = np.zeros_like(roll)
    outside = np.zeros((len(track_ids), total), bool)
    for row, index in enumerate(track_ids):
        notes = timed.tracks[index].notes.numpy()
        if len(notes["time"]) == 0:
            continue
        on, off = (
            np.round((bars.beat_positions(t) - start_beat) * grid.steps_per_beat).astype(int)
            for t in (notes["time"], notes["time"] + notes["duration"])
        )
        off = np.maximum(off, on + 1)
        for a, b, pitch in zip(on, off, notes["pitch"], strict=True):
            a, b = max(a, 0), min(b, total)
            if a >= b:
                continue
            if not grid.low <= pitch < grid.high:
                outside[row, a:b] = True
                continue
            p = int(pitch) - grid.low
            roll[row, a:b, p] = True
            onsets[row, a, p] = True
    return roll, onsets, outside


def work_phrases(
    roll: np.ndarray,
    onsets: np.ndarray,
    outside: np.ndarray,
    bars: Bars,
    grid: Grid,
    hop: int,
    min_notes: int,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Cut a work's rolls into phrases of `grid.bars` whole bars, one every `hop` bars:
    ({pianoroll, onsets [N, tracks, steps, P] bool, bar [N] int32}, drop counts by reason)."""
    lengths = np.diff(bars.bar_beats)
    starts = (bars.bar_beats[:-1] - bars.bar_beats[0]) * grid.steps_per_beat
    dropped = {"other_meter": 0, "too_few_notes": 0, "out_of_range": 0}
    keep_roll, keep_on, keep_bar = [], [], []
    for first in range(0, len(lengths) - grid.bars + 1, hop):
        span = slice(int(starts[first]), int(starts[first]) + grid.steps)
        if span.stop > roll.shape[1] or not roll[:, span].any():
            continue  # past the music, or silence
        if (lengths[first : first + grid.bars] != grid.beats_per_bar).any():
            dropped["other_meter"] += 1
        elif outside[:, span].any():
            dropped["out_of_range"] += 1
        elif onsets[:, span].sum() < min_notes:
            dropped["too_few_notes"] += 1
        else:
            keep_roll.append(roll[:, span])
            keep_on.append(onsets[:, span])
            keep_bar.append(first)
    shape = (0, roll.shape[0], grid.steps, grid.pitches)
    return {
        "pianoroll": np.stack(keep_roll) if keep_roll else np.zeros(shape, bool),
        "onsets": np.stack(keep_on) if keep_on else np.zeros(shape, bool),
        "bar": np.asarray(keep_bar, np.int32),
    }, dropped


def transposed(phrases: dict[str, np.ndarray], shifts: tuple[int, ...]) -> tuple[dict, int]:
    """Phrases plus one copy per non-zero shift (semitones along the pitch axis); a copy whose
    notes would leave the pitch range is dropped, not clipped. -> (phrases with `transpose`
    [N] int32, copies dropped)."""
    roll, n = phrases["pianoroll"], len(phrases["pianoroll"])
    used = roll.any(axis=(1, 2))  # [N, P]
    pitches = roll.shape[-1]
    low = np.where(used.any(1), used.argmax(1), pitches)
    high = np.where(used.any(1), pitches - 1 - used[:, ::-1].argmax(1), -1)
    out = {k: [v] for k, v in phrases.items()} | {"transpose": [np.zeros(n, np.int32)]}
    dropped = 0
    for shift in (s for s in shifts if s != 0):
        fits = (low + shift >= 0) & (high + shift < pitches)
        dropped += int((~fits).sum())
        for key in ("pianoroll", "onsets"):
            out[key].append(np.roll(phrases[key][fits], shift, axis=-1))
        out["bar"].append(phrases["bar"][fits])
        out["transpose"].append(np.full(int(fits.sum()), shift, np.int32))
    return {k: np.concatenate(v) for k, v in out.items()}, dropped


# --- back to notes ------------------------------------------------------------------------------


def roll_notes(roll: np.ndarray, onsets: np.ndarray | None = None) -> list[tuple[int, int, int]]:
    """One track's roll [S, P] bool -> notes (start step, end step, pitch index), sorted. A note
    starts where the roll turns on, or at an onset inside a sounding run (given `onsets`)."""
    roll = np.asarray(roll, bool)
    prev = np.zeros_like(roll)
    prev[1:] = roll[:-1]
    starts = roll & ~prev
    if onsets is not None:
        starts |= roll & np.asarray(onsets, bool)
    notes = []
    for step, pitch in zip(*np.nonzero(starts), strict=True):
        end = step + 1
        while end < len(roll) and roll[end, pitch] and not starts[end, pitch]:
            end += 1
        notes.append((int(step), int(end), int(pitch)))
    return sorted(notes)


def phrase_score(
    roll: np.ndarray,
    grid: Grid,
    names: tuple[str, ...],
    programs: tuple[int, ...],
    onsets: np.ndarray | None = None,
    tpq: int = 480,
    velocity: int = 90,
) -> Score:
    """A phrase [tracks, S, P] bool -> a `symusic.Score` in 4/4 (of `grid.beats_per_bar`
    quarters), one named track per phrase track, empty tracks included."""
    if tpq % grid.steps_per_beat:
        raise ValueError(f"tpq {tpq} is not a multiple of {grid.steps_per_beat} steps per beat")
    step = tpq // grid.steps_per_beat
    score = Score(tpq)
    score.time_signatures.append(TimeSignature(0, grid.beats_per_bar, 4))
    for i, (name, program) in enumerate(zip(names, programs, strict=True)):
        track = Track(name=name, program=int(program))
        for start, end, pitch in roll_notes(roll[i], None if onsets is None else onsets[i]):
            track.notes.append(Note(start * step, (end - start) * step, pitch + grid.low, velocity))
        score.tracks.append(track)
    return score


def pack(roll: np.ndarray) -> np.ndarray:
    """bool [..., P] -> uint8 [..., ceil(P / 8)] (`np.packbits` along the pitch axis)."""
    return np.packbits(roll, axis=-1)


def unpack(packed: np.ndarray, pitches: int) -> np.ndarray:
    """`pack`'s inverse: uint8 [..., ceil(P / 8)] -> bool [..., P]."""
    return np.unpackbits(packed, axis=-1, count=pitches).astype(bool)
