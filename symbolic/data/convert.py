"""Scores and MIDI files -> ``symusic.Score``, one track and one GM program per voice.

Why this module exists: music21 writes every part with program 0, and MidiTok (with
``use_programs``) merges tracks that share a program, so unisons between voices
collapse (about 4% of the Bach chorale notes). Here every part gets its own track and
its own program from a fixed palette, so no two voices can ever merge.

Program palette (GM numbers, 0-based), fixed and deterministic:

* voices recognised by part name (``Soprano``, ``Alto``, ``Tenor``, ``Bass`` and the
  usual Latin/German/abbreviated spellings; the first line of a multi-line name is
  used): Soprano -> 40 Violin, Alto -> 41 Viola, Tenor -> 42 Cello,
  Bass -> 43 Contrabass. A score with exactly four parts and no recognisable voice
  names is read as SATB by part order.
* every other part, in part order, takes the next unused program of
  ``EXTRA_PALETTE`` (oboe, flute, clarinet, bassoon, horn, trumpet, ...), then any
  unused program in ascending order, so up to 128 parts stay distinct.

Repeats are expanded by music21 when it writes MIDI. A score whose repeats music21
cannot expand (``ExpanderException``: malformed repeat barlines or expressions) is
written again with every repeat mark and volta bracket removed, i.e. played straight
through once as notated, rather than dropped.

Grace notes (zero duration in music21) are dropped: MIDI has no zero-length note, and
music21 writes them so that later note-offs of the same pitch pair with the wrong notes.
Two voices on one staff that hold the same pitch at once cannot both sound on one MIDI
channel; the later note-off ends both (8 notes of one Bach score, bwv248.23-2).

Roman-numeral analyses (``.rntxt``) are not scores of notes and are never converted.
Never imports jax.
"""

from __future__ import annotations

import re
from pathlib import Path

from symusic import Score

MIDI_SUFFIXES = (".mid", ".midi")
# Formats music21 parses into notated scores that we convert.
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc", ".mei")
# Formats music21 can parse but that hold no notes to learn from.
NOT_SCORE_SUFFIXES = {".rntxt": "roman-numeral analysis (.rntxt), not a score of notes"}

VOICE_PROGRAMS = {"soprano": 40, "alto": 41, "tenor": 42, "bass": 43}
EXTRA_PALETTE = (68, 73, 71, 70, 60, 56, 57, 47, 74, 69, 58, 61, 48, 49, 19, 0, 6, 24)
_VOICE_PATTERNS = {
    "soprano": re.compile(r"^(soprano|sopran|canto|cantus|discantus|s\.?)(\s|\d|$)"),
    "alto": re.compile(r"^(alto|alt|altus|contralto|a\.?)(\s|\d|$)"),
    "tenor": re.compile(r"^(tenor|tenore|t\.?)(\s|\d|$)"),
    "bass": re.compile(r"^(bass|basso|bassus|b\.?)(\s|\d|$)"),
}
_SATB = ("soprano", "alto", "tenor", "bass")


def file_kind(path: str | Path) -> str:
    """Classify a file by suffix: ``"midi"``, ``"score"`` or ``"other"``."""
    suffix = Path(path).suffix.lower()
    if suffix in MIDI_SUFFIXES:
        return "midi"
    if suffix in SCORE_SUFFIXES:
        return "score"
    return "other"


def voice_of(part_name: str | None) -> str | None:
    """Return ``"soprano"``/``"alto"``/``"tenor"``/``"bass"`` for a part name, else None.

    Only the first line of the name counts: the corpus has names like
    ``"Soprano\\rOboe 1,2\\rViolin1"`` (a voice doubled by instruments).
    """
    if not part_name:
        return None
    first = re.split(r"[\r\n]", part_name.strip())[0].strip().lower()
    for voice, pattern in _VOICE_PATTERNS.items():
        if pattern.match(first):
            return voice
    return None


def assign_programs(part_names: list[str | None]) -> list[int]:
    """Distinct GM programs (0-127) for parts, in part order. Deterministic.

    Args:
        part_names: one name (or None) per part, in score order.

    Returns:
        One program per part; all distinct (raises ValueError past 128 parts).
    """
    if len(part_names) > 128:
        raise ValueError(f"{len(part_names)} parts: more than the 128 GM programs")
    voices = [voice_of(name) for name in part_names]
    if len(part_names) == 4 and not any(voices):
        voices = list(_SATB)
    programs: list[int | None] = [None] * len(part_names)
    used: set[int] = set()
    for i, voice in enumerate(voices):
        # The first part of each voice gets the voice program (e.g. "Soprano 1");
        # a second part of the same voice falls through to the extra palette.
        if voice is not None and VOICE_PROGRAMS[voice] not in used:
            programs[i] = VOICE_PROGRAMS[voice]
            used.add(VOICE_PROGRAMS[voice])
    spare = [p for p in (*EXTRA_PALETTE, *range(128)) if p not in VOICE_PROGRAMS.values()]
    spare += list(VOICE_PROGRAMS.values())  # voice programs only when all else is taken
    free = (p for p in dict.fromkeys(spare) if p not in used)
    return [p if p is not None else next(free) for p in programs]


def _set_part_programs(score) -> None:
    """Give each part of a music21 score its palette program, in place.

    Existing instrument objects are kept (they carry transpositions for transposing
    instruments) and only their MIDI program is overwritten; channels are cleared so
    music21 allocates one channel per distinct program. Unpitched percussion keeps its
    drum channel.
    """
    from music21 import instrument

    programs = assign_programs([part.partName for part in score.parts])
    for part, program in zip(score.parts, programs, strict=True):
        insts = list(part.recurse().getElementsByClass(instrument.Instrument))
        if not insts or insts[0].getOffsetInHierarchy(part) != 0:
            new = instrument.Instrument()
            part.insert(0, new)
            insts.insert(0, new)
        for inst in insts:
            if not isinstance(inst, instrument.UnpitchedPercussion):
                inst.midiProgram = program
                inst.midiChannel = None


def strip_repeats(score) -> None:
    """Remove repeat barlines, repeat expressions and volta brackets, in place."""
    from music21 import bar, repeat, spanner, stream

    for measure in score.recurse().getElementsByClass(stream.Measure):
        if isinstance(measure.leftBarline, bar.Repeat):
            measure.leftBarline = None
        if isinstance(measure.rightBarline, bar.Repeat):
            measure.rightBarline = bar.Barline("regular")
    removable = (repeat.RepeatExpression, spanner.RepeatBracket)
    for element in list(score.recurse().getElementsByClass(removable)):
        site = element.activeSite
        if site is not None:
            site.remove(element)
    for sp in list(score.spannerBundle.getByClass(spanner.RepeatBracket)):
        score.spannerBundle.remove(sp)


def drop_grace_notes(score) -> int:
    """Remove grace notes (and grace chords) in place; returns how many were removed."""
    graces = [n for n in score.recurse().notes if n.duration.isGrace]
    for note in graces:
        note.activeSite.remove(note)
    return len(graces)


def music21_to_midi_bytes(score) -> tuple[bytes, bool]:
    """Write a music21 score as type-1 MIDI bytes with one program per part.

    Args:
        score: a ``music21.stream.Score``, modified in place (programs, grace notes
            dropped, repeat marks stripped if the retry runs).

    Returns:
        ``(midi_bytes, repeats_stripped)``; the flag says the malformed-repeat retry ran.
    """
    from music21 import repeat
    from music21.midi import translate

    _set_part_programs(score)
    drop_grace_notes(score)
    try:
        return translate.music21ObjectToMidiFile(score).writestr(), False
    except repeat.ExpanderException:
        strip_repeats(score)
        return translate.music21ObjectToMidiFile(score).writestr(), True


def parse_music21(path: str | Path):
    """Parse a notated score with music21 (no corpus cache writes, deterministic)."""
    from music21 import converter

    return converter.parse(str(path))


def _read_midi(path: Path) -> Score:
    """symusic's reader, its errors naming the file: its own, "MiniMidi: Invaild midi file!",
    does not. The exception type is kept, so callers that sort errors by type still can."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such MIDI file")
    try:
        return Score(str(path))
    except (RuntimeError, ValueError) as err:
        raise type(err)(f"{path}: not a valid MIDI file ({err})") from err


# A prompt, a melody or a chords file lasting longer is a damaged file, not music (13.9 h at
# 120 bpm); its ticks would overflow symusic's int32 times once resampled for writing.
MAX_PRIMER_QUARTERS = 100_000


def load_primer(path: str | Path, max_quarters: int = MAX_PRIMER_QUARTERS) -> Score:
    """`load_score` of a file that generation reads (a prompt, a melody, a chords file), refused
    when its last event lies more than `max_quarters` quarter notes in.

    Raises:
        ValueError: the file is that long (one line naming it), or as `load_score`.
    """
    score = load_score(path)
    quarters = score.end() / max(score.ticks_per_quarter, 1)
    if quarters > max_quarters:
        raise ValueError(
            f"{path}: its last event lies {quarters:,.0f} quarter notes in (tick {score.end():,}),"
            f" past the limit of {max_quarters:,}; a damaged file?"
        )
    return score


def load_score(path: str | Path) -> Score:
    """Read any supported file as a ``symusic.Score``, one track/program per voice.

    MIDI files are read as they are (symusic). Notated scores are parsed by music21,
    given palette programs and written to MIDI in memory.

    Raises:
        ValueError: unsupported suffix or a non-score format (e.g. ``.rntxt``).
        FileNotFoundError: no file at ``path``.
        RuntimeError: a damaged MIDI file (symusic's type, with the file named).
    """
    path = Path(path)
    kind = file_kind(path)
    if kind == "midi":
        return _read_midi(path)
    if kind == "score":
        data, _ = music21_to_midi_bytes(parse_music21(path))
        score = Score.from_midi(data)
        # music21 can leave note-less tracks (e.g. a program change on a spare channel).
        score.tracks = [track for track in score.tracks if len(track.notes) > 0]
        return score
    reason = NOT_SCORE_SUFFIXES.get(path.suffix.lower(), f"unsupported file type {path.suffix!r}")
    raise ValueError(reason)
