"""The only module that imports miditok: presets, ids <-> ``symusic.Score``, tokenizer hash.

Presets live as MidiTok JSON files in ``<repo>/tokenizers/<name>/tokenizer.json`` (data,
not code; an installed package carries a copy, see ``symbolic/resources.py``).
``PRESET_CONFIGS`` below is how they were made; ``write_presets()`` rebuilds them and a test
checks the committed files still match it.

All presets share one design (see ``tokenizers/README.md``):

* all GM programs plus drums (``Program_-1``) in one token stream, so a user's folder
  of arbitrary MIDI works, and voices stay apart by program (see ``data/convert.py``);
* 12 positions per beat (16ths, 8th- and 16th-triplets), durations up to 24 beats;
* 16 velocity bins, 32 log-spaced tempos (40-250 bpm), time signatures n/4 (n = 1..9, 12)
  and n/8 (n = 2..9, 12).

MidiTok counts positions and durations in beats of the meter's denominator: under x/8 a
position is 1/24 quarter and the longest duration 12 quarters. Half- and whole-note meters
are rewritten before tokenizing (``tokenized_meter``: n/2 -> 2n/4, n/1 -> 4n/4, e.g. 3/2 ->
6/4): same bar and onsets, so they come back as that n/4. The vocabulary has no n/2
signatures because MidiTok would give a half-note beat only 12 positions, too coarse for
16ths. Other meters (11/8, x/16) are dropped by MidiTok, their bars read in the meter before
them; `prepare` lists them in meta.json (``unsupported_meters``). Never imports jax.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import miditok
import numpy as np
from symusic import Score, Tempo, TimeSignature

from symbolic.resources import data_folder
from symbolic.tracks import separate_tracks

TOKENIZERS_DIR = data_folder("tokenizers")
DEFAULT_PRESET = "remi"
SPECIAL_TOKENS = ("PAD", "BOS", "EOS", "MASK")
# Token types that start a note; counting them counts notes in a stream.
NOTE_TYPES = ("Pitch", "PitchDrum", "NoteOn", "DrumOn")

_COMMON = {
    "pitch_range": (21, 108),  # the 88 piano keys
    # Durations (and time shifts): 1/12 beat to 4 beats, 1/4 beat to 12, whole beats to 24.
    "beat_res": {(0, 4): 12, (4, 12): 4, (12, 24): 1},
    "num_velocities": 16,
    "special_tokens": list(SPECIAL_TOKENS),
    "use_velocities": True,
    "use_tempos": True,
    "use_time_signatures": True,
    "use_programs": True,
    "one_token_stream_for_programs": True,
    "program_changes": False,
    "programs": list(range(-1, 128)),
    "use_pitchdrum_tokens": True,
    "num_tempos": 32,
    "tempo_range": (40, 250),
    "log_tempos": True,
    "delete_equal_successive_tempo_changes": True,
    # n/2 and n/1 meters arrive rewritten as n/4 (normalize_meters): 8/4 is 4/2, 12/4 is 3/1.
    "time_signature_range": {8: [2, 3, 4, 5, 6, 7, 8, 9, 12], 4: [1, 2, 3, 4, 5, 6, 7, 8, 9, 12]},
    "remove_duplicated_notes": False,
}
PRESET_CONFIGS: dict[str, tuple[str, dict]] = {
    "remi": ("REMI", {}),
    "tsd": ("TSD", {}),
    # A NoteOn never closed by its NoteOff is decoded 24 beats long (the longest duration)
    # instead of dropped.
    "midilike": ("MIDILike", {"max_duration": "24.0.1"}),
}


def build_preset(name: str) -> miditok.MusicTokenizer:
    """Build a preset tokenizer from ``PRESET_CONFIGS`` (not from the saved JSON)."""
    if name not in PRESET_CONFIGS:
        raise ValueError(f"unknown tokenizer preset {name!r}; presets: {sorted(PRESET_CONFIGS)}")
    class_name, extra = PRESET_CONFIGS[name]
    config = miditok.TokenizerConfig(**_COMMON, **extra)
    return getattr(miditok, class_name)(config)


def write_presets(out_dir: str | Path = TOKENIZERS_DIR) -> list[Path]:
    """Save every preset as ``out_dir/<name>/tokenizer.json``; returns the paths."""
    paths = []
    for name in PRESET_CONFIGS:
        path = Path(out_dir) / name / "tokenizer.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        build_preset(name).save(path)
        paths.append(path)
    return paths


def resolve_tokenizer_path(preset_or_path: str | Path) -> Path:
    """Map a preset name (``"remi"``) or a JSON file / folder path to a JSON file path.

    Raises:
        FileNotFoundError: neither a preset nor an existing tokenizer file.
    """
    text = str(preset_or_path)
    preset = TOKENIZERS_DIR / text / "tokenizer.json"
    if "/" not in text and "\\" not in text and preset.is_file():
        return preset
    path = Path(preset_or_path).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
    if path.is_file():
        return path
    if not TOKENIZERS_DIR.is_dir():
        where = f"no presets: {TOKENIZERS_DIR} is missing (reinstall the package)"
    else:
        known = sorted(p.parent.name for p in TOKENIZERS_DIR.glob("*/tokenizer.json"))
        where = f"presets: {', '.join(known)}"
    raise FileNotFoundError(f"tokenizer {text!r}: not a preset nor a tokenizer JSON ({where})")


def load_tokenizer(preset_or_path: str | Path = DEFAULT_PRESET) -> miditok.MusicTokenizer:
    """Load a MidiTok tokenizer from a preset name or a ``tokenizer.json`` path.

    Raises:
        FileNotFoundError: no such preset/file.
        ValueError: the JSON is not a MidiTok tokenizer this project supports.
    """
    path = resolve_tokenizer_path(preset_or_path)
    try:
        params = json.loads(path.read_text())
        class_name = params["tokenization"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a MidiTok tokenizer JSON ({err})") from err
    cls = getattr(miditok, class_name, None)
    if not isinstance(cls, type) or not issubclass(cls, miditok.MusicTokenizer):
        raise ValueError(f"{path}: unknown MidiTok tokenization {class_name!r}")
    tokenizer = cls(params=path)
    if tokenizer.is_multi_voc or not tokenizer.one_token_stream:
        raise ValueError(f"{path}: only single-stream, single-vocabulary tokenizers work")
    return tokenizer


def tokenizer_hash(tokenizer: miditok.MusicTokenizer) -> str:
    """sha256 hex of a canonical JSON of the tokenizer class, config and vocabulary.

    Library versions are left out on purpose: a new MidiTok that builds the same
    vocabulary from the same config gives the same hash.
    """
    canonical = {
        "tokenization": type(tokenizer).__name__,
        "config": tokenizer.config.to_dict(serialize=True),
        "vocab": sorted(tokenizer.vocab.items(), key=lambda kv: kv[1]),
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def special_ids(tokenizer: miditok.MusicTokenizer) -> dict[str, int]:
    """Ids of the special tokens, e.g. ``{"pad": 0, "bos": 1, "eos": 2, "mask": 3}``."""
    return {tok.split("_")[0].lower(): tokenizer.vocab[tok] for tok in tokenizer.special_tokens}


def token_types(tokenizer: miditok.MusicTokenizer) -> list[str]:
    """Token type (``"Pitch"``, ``"Position"``, ...) of every id: ``[vocab]`` list."""
    inverse = {i: tok for tok, i in tokenizer.vocab.items()}
    return [inverse[i].split("_")[0] for i in range(len(inverse))]


def count_notes(tokenizer: miditok.MusicTokenizer, ids: list[int] | np.ndarray) -> int:
    """Number of note-starting tokens (Pitch/PitchDrum/NoteOn/DrumOn) in ``ids``."""
    note_ids = [i for t in NOTE_TYPES for i in tokenizer.token_ids_of_type(t)]
    return int(np.isin(np.asarray(ids), note_ids).sum())


def tokenized_meter(numerator: int, denominator: int) -> tuple[int, int]:
    """The meter the presets tokenize for a written one: half- and whole-note meters as quarter
    meters of the same bar (3/2 -> 6/4, 3/1 -> 12/4), any other as written."""
    if denominator in (1, 2):
        return numerator * 4 // denominator, 4
    return numerator, denominator


def normalize_meters(score: Score) -> Score:
    """Copy of ``score`` with its meters as the presets tokenize them (``tokenized_meter``)."""
    score = score.copy()
    score.time_signatures = [
        TimeSignature(ts.time, *tokenized_meter(ts.numerator, ts.denominator))
        for ts in score.time_signatures
    ]
    return score


def encode(tokenizer: miditok.MusicTokenizer, score: Score) -> list[int]:
    """Tokenize a ``symusic.Score`` into one id stream (files load through
    ``symbolic.data.convert.load_score``), every track apart: tracks that share a program take
    their stream programs (``symbolic.tracks``).

    Returns:
        ``[length]`` list of int ids, without BOS/EOS.
    """
    tokens = tokenizer.encode(separate_tracks(normalize_meters(score)))
    return [int(i) for i in tokens.ids]


def decode(tokenizer: miditok.MusicTokenizer, ids: list[int] | np.ndarray) -> Score:
    """Ids (``[length]`` ints; PAD/BOS/EOS/MASK anywhere are dropped) -> ``symusic.Score``."""
    specials = set(special_ids(tokenizer).values())
    kept = [int(i) for i in np.asarray(ids).reshape(-1) if int(i) not in specials]
    if not kept:
        return ensure_tempo_and_meter(Score(tokenizer.time_division))
    return tokenizer.decode(kept)


def ensure_tempo_and_meter(score: Score) -> Score:
    """Add 120 bpm and 4/4 at tick 0 where the score has none there (in place)."""
    if len(score.tempos) == 0 or score.tempos[0].time != 0:
        score.tempos.insert(0, Tempo(0, 120.0))
    if len(score.time_signatures) == 0 or score.time_signatures[0].time != 0:
        score.time_signatures.insert(0, TimeSignature(0, 4, 4))
    return score


def program_name(program: int, is_drum: bool = False) -> str:
    """General MIDI instrument name of ``program`` (0-127), ``"Drums"`` for a drum track."""
    if is_drum:
        return "Drums"
    return miditok.constants.MIDI_INSTRUMENTS[program]["name"]


def save_midi(score: Score, path: str | Path) -> Path:
    """Write ``score`` as a type-1 standard MIDI file that mido and music21 can open.

    A tempo and a time signature at tick 0 are added if missing (many players and
    music21 assume both).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    score = ensure_tempo_and_meter(score.copy())
    score.dump_midi(str(path))
    return path
