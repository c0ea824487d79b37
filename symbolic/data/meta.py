"""meta.json of a prepared data set, typed: ``DataMeta`` (token arrays) and ``SegmentsMeta`` (VAE
melody segments). Never imports jax.

``prepare`` and ``prepare_segments`` build these records; ``load_meta(data_dir)`` reads one back
and validates it once, so the rest of the engine reads attributes, not keys. ``to_json`` writes
the same keys, in the same order, as meta.json always held: prepared folders and run directories
(a run copies its data set's meta.json, ``training/checkpoint.py``) written before these types still
load, and a round trip gives the same file.

A run directory's meta.json may be smaller than a prepared folder's (the tests write runs by
hand): only ``vocab_size``, ``special_ids`` and ``tokenizer_hash`` are required, and a key that
was absent stays absent when written again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from symbolic.data.views import View
from symbolic.paths import read_json
from symbolic.tracks import StreamTrack

META_FILE = "meta.json"
# 2: every source track its own stream (`symbolic.tracks`, meta.json's `tracks`), 19 meters
# and durations up to 24 beats in the presets.
FORMAT_VERSION = 2
SEGMENTS_KIND = "melody_segments"  # meta.json "kind" of a segments folder; token data has none
AUDIO_KIND = "audio"  # meta.json "kind" of rendered audio features (the transcriber's data)
PHRASES_KIND = "pianoroll_phrases"  # meta.json "kind" of GAN piano-roll phrases


class MetaError(ValueError):
    """A meta.json that is malformed; the message is one line naming the file and the key."""


def _need(data: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data.get(key)
    # bool is an int subclass: a `true` where an id belongs is a malformed file, not id 1.
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise MetaError(f"{where}: {key!r} must be {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {int: "an integer", str: "a string", dict: "an object"}.get(k, k.__name__) for k in kinds
    )


def _optional(data: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    return None if data.get(key) is None else _need(data, key, kind, where)


def _present(pairs: dict) -> dict:
    """``pairs`` without the keys whose value is None (absent from the file it came from)."""
    return {key: value for key, value in pairs.items() if value is not None}


@dataclass(frozen=True)
class SpecialIds:
    """Ids of the special tokens; a run trained to infill adds its three FIM sentinels."""

    pad: int
    bos: int
    eos: int
    mask: int
    fim_suffix: int | None = None
    fim_prefix: int | None = None
    fim_end: int | None = None

    @classmethod
    def from_json(cls, data: Any, where: str = "special_ids") -> SpecialIds:
        if not isinstance(data, dict):
            raise MetaError(f"{where}: must be an object of token ids, got {data!r}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise MetaError(
                f"{where}: unknown special tokens {unknown}; the engine knows {sorted(names)}"
            )
        required = {name: _need(data, name, int, where) for name in ("pad", "bos", "eos", "mask")}
        fim = {name: _optional(data, name, int, where) for name in names - set(required)}
        return cls(**required, **fim)

    def to_json(self) -> dict[str, int]:
        return _present({f.name: getattr(self, f.name) for f in fields(self)})

    @property
    def fim(self) -> tuple[int, int, int] | None:
        """(suffix, prefix, end) sentinel ids, or None for a run not trained to infill."""
        ids = (self.fim_suffix, self.fim_prefix, self.fim_end)
        return None if None in ids else ids  # type: ignore[return-value]


@dataclass(frozen=True)
class SplitCounts:
    """What one split of a prepared data set holds."""

    works: int
    sequences: int
    tokens: int


@dataclass(frozen=True)
class Skipped:
    """A manifest file that prepare could not use, and why (one line)."""

    file: str
    reason: str


@dataclass(frozen=True)
class Augment:
    """The transposition augmentation of the train split (valid and test are never transposed)."""

    transpose: tuple[int, int] | None  # the (low, high) semitones asked for, None: off
    shifts: tuple[int, ...]  # the non-zero shifts, each one copy of every train work
    dropped_copies: int = 0  # copies dropped because their notes left the pitch range
    splits: tuple[str, ...] = ("train",)
    out_of_range: str = "drop the transposed copy"

    @classmethod
    def from_json(cls, data: Any, where: str) -> Augment:
        if not isinstance(data, dict):
            raise MetaError(f"{where}: 'augment' must be an object, got {data!r}")
        transpose = data.get("transpose")
        return cls(
            transpose=tuple(transpose) if transpose is not None else None,
            shifts=tuple(data.get("shifts", ())),
            dropped_copies=int(data.get("dropped_copies", 0)),
            splits=tuple(data.get("splits", ("train",))),
            out_of_range=str(data.get("out_of_range", cls.out_of_range)),
        )

    def to_json(self) -> dict:
        return {
            "transpose": list(self.transpose) if self.transpose is not None else None,
            "shifts": list(self.shifts),
            "splits": list(self.splits),
            "out_of_range": self.out_of_range,
            "dropped_copies": self.dropped_copies,
        }


def _programs(data: dict, where: str) -> tuple[int, ...] | None:
    programs = _optional(data, "programs", list, where)
    if programs is None:
        return None
    if not all(isinstance(p, int) and not isinstance(p, bool) and -1 <= p <= 127 for p in programs):
        raise MetaError(f"{where}: 'programs' must be GM programs -1..127, got {programs!r}")
    return tuple(programs)


def _check_format(data: dict, where: str) -> None:
    """Token data of another format means other tokens for the same music (format 1 merged the
    tracks that share a program): refused, never read as if it were this format."""
    version = _optional(data, "format_version", int, where)
    if version is not None and version != FORMAT_VERSION:
        raise MetaError(
            f"{where}: token data of format {version}, this symbolic reads format "
            f"{FORMAT_VERSION} (every source track its own stream, more meters, longer notes): "
            "run `symbolic prepare` again, and train again a run made from the old data"
        )


def _tracks(data: dict, where: str) -> tuple[StreamTrack, ...] | None:
    entries = _optional(data, "tracks", list, where)
    if entries is None:
        return None
    try:
        return tuple(
            StreamTrack(int(e["stream_program"]), int(e["program"]), str(e["name"]))
            for e in entries
        )
    except (TypeError, KeyError, ValueError) as err:
        raise MetaError(
            f"{where}: 'tracks' entries need stream_program, program, name ({err})"
        ) from None


@dataclass(frozen=True)
class DataMeta:
    """A prepared token data set (or a language-model run trained on one).

    ``vocab_size`` counts the tokenizer's vocabulary plus a view's extra tokens (``extra_tokens``,
    e.g. chord labels), not a run's FIM sentinels. The fields after ``tokenizer_hash`` are None
    where the file had no such key.
    """

    vocab_size: int
    special_ids: SpecialIds
    tokenizer_hash: str
    format_version: int | None = None
    tokenizer_preset: str | None = None
    manifest_path: str | None = None
    manifest_name: str | None = None
    manifest_hash: str | None = None
    counts: dict[str, SplitCounts] | None = None
    skipped: tuple[Skipped, ...] | None = None
    augment: Augment | None = None
    seed: int | None = None
    created_with: dict[str, str] | None = None
    view: View = field(default_factory=View)  # the full view is recorded by its absence
    extra_tokens: dict[str, int] = field(default_factory=dict)  # token name -> id, after vocab
    # The GM programs (-1: drums) of the train split's Program tokens: what generation may play.
    programs: tuple[int, ...] | None = None
    # Files kept, but odd (a tempo of 0, a 0/0 meter, a work of a quarter of the train tokens,
    # cut by --max-tokens-per-work): `prepare` also prints them as warnings.
    flagged: tuple[Skipped, ...] | None = None
    # Melody views: each work's melody track (work id -> its name as written in the file), and
    # why the melody finder chose it ("its name says melody", ..., or "--track").
    melody_track: dict[str, str] | None = None
    melody_track_reason: dict[str, str] | None = None
    # `prepare --align-downbeat`: how far each work was delayed onto its bar lines (work id ->
    # quarter notes, 0 for a work already on them).
    downbeat_shifts: dict[str, float] | None = None
    # Meters outside the tokenizer's, read as the meter before them: meter as written -> work
    # id -> its bars in that meter (`oddities.unsupported_meters`).
    unsupported_meters: dict[str, dict[str, int]] | None = None
    # What each stream program stands for, most often, over the data set's works: the source
    # program and track name that decoding writes back (`symbolic.tracks`).
    tracks: tuple[StreamTrack, ...] | None = None

    @classmethod
    def from_json(cls, data: Any, where: str = META_FILE) -> DataMeta:
        """Validate a parsed meta.json; raises MetaError (one line) on a malformed one."""
        if not isinstance(data, dict):
            raise MetaError(f"{where}: top level must be a JSON object")
        _check_format(data, where)
        counts = _optional(data, "counts", dict, where)
        skipped = data.get("skipped")
        try:
            return cls(
                vocab_size=_need(data, "vocab_size", int, where),
                special_ids=SpecialIds.from_json(data.get("special_ids"), f"{where}: special_ids"),
                tokenizer_hash=_need(data, "tokenizer_hash", str, where),
                format_version=_optional(data, "format_version", int, where),
                tokenizer_preset=_optional(data, "tokenizer_preset", str, where),
                manifest_path=_optional(data, "manifest_path", str, where),
                manifest_name=_optional(data, "manifest_name", str, where),
                manifest_hash=_optional(data, "manifest_hash", str, where),
                counts={k: SplitCounts(**v) for k, v in counts.items()} if counts else counts,
                skipped=tuple(Skipped(**s) for s in skipped) if skipped is not None else None,
                augment=Augment.from_json(data["augment"], where) if "augment" in data else None,
                seed=_optional(data, "seed", int, where),
                created_with=_optional(data, "created_with", dict, where),
                view=View.from_json(data.get("view")),
                extra_tokens=dict(_optional(data, "extra_tokens", dict, where) or {}),
                programs=_programs(data, where),
                flagged=tuple(Skipped(**f) for f in data["flagged"]) if "flagged" in data else None,
                melody_track=_optional(data, "melody_track", dict, where),
                melody_track_reason=_optional(data, "melody_track_reason", dict, where),
                downbeat_shifts=_optional(data, "downbeat_shifts", dict, where),
                unsupported_meters=_optional(data, "unsupported_meters", dict, where),
                tracks=_tracks(data, where),
            )
        except (TypeError, ValueError) as err:
            if isinstance(err, MetaError):
                raise
            raise MetaError(f"{where}: {' '.join(str(err).split())}") from None

    def to_json(self) -> dict:
        """The meta.json document: prepare's keys in prepare's order (a view other than ``full``
        and its extra tokens last)."""
        counts = self.counts
        data = _present(
            {
                "format_version": self.format_version,
                "vocab_size": self.vocab_size,
                "special_ids": self.special_ids.to_json(),
                "tokenizer_preset": self.tokenizer_preset,
                "tokenizer_hash": self.tokenizer_hash,
                "manifest_path": self.manifest_path,
                "manifest_name": self.manifest_name,
                "manifest_hash": self.manifest_hash,
                "counts": {k: asdict(c) for k, c in counts.items()} if counts is not None else None,
                "skipped": [asdict(s) for s in self.skipped] if self.skipped is not None else None,
                "augment": self.augment.to_json() if self.augment is not None else None,
                "seed": self.seed,
                "created_with": self.created_with,
                "programs": list(self.programs) if self.programs is not None else None,
                "flagged": [asdict(f) for f in self.flagged] if self.flagged else None,
                "melody_track": self.melody_track,
                "melody_track_reason": self.melody_track_reason,
                "downbeat_shifts": self.downbeat_shifts,
                "unsupported_meters": self.unsupported_meters,
                "tracks": [asdict(t) for t in self.tracks] if self.tracks is not None else None,
            }
        )
        if self.view != View():
            data |= {"view": self.view.to_json(), "extra_tokens": dict(self.extra_tokens)}
        return data

    def with_special_ids(self, **ids: int) -> DataMeta:
        """This meta with more special ids (a FIM run's sentinels)."""
        return replace(self, special_ids=replace(self.special_ids, **ids))


@dataclass(frozen=True)
class SegmentCounts:
    """What one split of a segments folder holds."""

    works: int
    segments: int


@dataclass(frozen=True)
class SkippedWork:
    """A manifest work that gave no segments, and why (one line)."""

    work: str
    reason: str


@dataclass(frozen=True)
class SegmentsMeta:
    """A folder of bar-aligned melody segments (``data/segments.py``), or a VAE run on one.

    ``counts``, ``works`` and ``data_dir`` are filled in when the folder is written
    (``segments.write_segments_dir``); ``works[split][i]`` is the id of the work that the split's
    ``work`` index ``i`` names.
    """

    vocab_size: int
    bars: int
    melody_program: int
    steps_per_bar: int = 16
    manifest: str | None = None
    transpose: tuple[int, int] | None = None
    skipped: tuple[SkippedWork, ...] = ()
    data_dir: str | None = None
    counts: dict[str, SegmentCounts] = field(default_factory=dict)
    works: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def segment_steps(self) -> int:
        """Grid steps per segment: the model's sequence length."""
        return self.bars * self.steps_per_bar

    @property
    def tokenizer_hash(self) -> None:
        """None: segments have one fixed encoding (``data/segments.py``), no tokenizer."""
        return None

    @classmethod
    def from_json(cls, data: Any, where: str = META_FILE) -> SegmentsMeta:
        """Validate a parsed segments meta.json; raises MetaError (one line)."""
        if not isinstance(data, dict) or data.get("kind") != SEGMENTS_KIND:
            raise MetaError(f"{where}: not a segments meta.json (kind {SEGMENTS_KIND!r})")
        transpose = data.get("transpose")
        try:
            meta = cls(
                vocab_size=_need(data, "vocab_size", int, where),
                bars=_need(data, "bars", int, where),
                melody_program=_need(data, "melody_program", int, where),
                steps_per_bar=_need(data, "steps_per_bar", int, where),
                manifest=_optional(data, "manifest", str, where),
                transpose=tuple(transpose) if transpose is not None else None,
                skipped=tuple(SkippedWork(**s) for s in data.get("skipped", ())),
                data_dir=_optional(data, "data_dir", str, where),
                counts={k: SegmentCounts(**v) for k, v in data.get("counts", {}).items()},
                works={k: tuple(v) for k, v in data.get("works", {}).items()},
            )
        except (TypeError, AttributeError) as err:
            raise MetaError(f"{where}: {' '.join(str(err).split())}") from None
        if data.get("segment_steps", meta.segment_steps) != meta.segment_steps:
            raise MetaError(f"{where}: segment_steps must be bars * steps_per_bar")
        return meta

    def to_json(self) -> dict:
        """The meta.json document, in the order ``prepare_segments`` always wrote it."""
        return {
            "kind": SEGMENTS_KIND,
            "vocab_size": self.vocab_size,
            "bars": self.bars,
            "steps_per_bar": self.steps_per_bar,
            "segment_steps": self.segment_steps,
            "melody_program": self.melody_program,
            "manifest": self.manifest,
            "transpose": list(self.transpose) if self.transpose is not None else None,
            "skipped": [asdict(s) for s in self.skipped],
            "data_dir": self.data_dir,
            "counts": {k: asdict(c) for k, c in self.counts.items()},
            "works": {k: list(v) for k, v in self.works.items()},
        }


@dataclass(frozen=True)
class AudioMeta:
    """A folder of rendered audio features and frame targets (``symbolic.audio.dataset``), or a
    transcriber run trained on one. ``features`` holds the feature kind and its parameters
    (``symbolic.audio.features.FeatureParams``), ``programs`` the GM programs rendered per split;
    the other keys describe the renders (see ``symbolic audio prepare``)."""

    sample_rate: int
    hop_length: int
    num_bins: int  # feature bins per frame: the model's input width
    features: dict
    num_keys: int = 88
    lowest_pitch: int = 21
    programs: dict[str, list[int]] = field(default_factory=dict)
    manifest: str | None = None
    manifest_hash: str | None = None
    soundfont: str | None = None
    soundfont_hash: str | None = None
    augment: dict = field(default_factory=dict)
    seed: int = 0
    counts: dict[str, dict] = field(default_factory=dict)
    skipped: tuple[Skipped, ...] = ()
    created_with: dict[str, str] | None = None

    @property
    def tokenizer_hash(self) -> None:
        """None: audio has no tokenizer."""
        return None

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @classmethod
    def from_json(cls, data: Any, where: str = META_FILE) -> AudioMeta:
        """Validate a parsed audio meta.json; raises MetaError (one line)."""
        if not isinstance(data, dict) or data.get("kind") != AUDIO_KIND:
            raise MetaError(f"{where}: not an audio meta.json (kind {AUDIO_KIND!r})")
        names = {f.name for f in fields(cls)}
        try:
            values = {k: v for k, v in data.items() if k in names}
            for key in ("sample_rate", "hop_length", "num_bins"):
                _need(data, key, int, where)
            _need(data, "features", dict, where)
            values["skipped"] = tuple(Skipped(**s) for s in data.get("skipped", ()))
            return cls(**values)
        except (TypeError, AttributeError) as err:
            raise MetaError(f"{where}: {' '.join(str(err).split())}") from None

    def to_json(self) -> dict:
        data = {"kind": AUDIO_KIND, **asdict(self)}
        data["skipped"] = [asdict(s) for s in self.skipped]
        return data


@dataclass(frozen=True)
class PhrasesMeta:
    """A folder of bar-aligned multi-track piano-roll phrases (``symbolic gan prepare``,
    ``symbolic.data.phrase_sets``), or a GAN run trained on one. ``tracks`` and ``programs``
    name the phrase tracks in order; ``dropped`` counts the phrases left out by reason
    (other_meter: a bar of another length in it, too_few_notes, out_of_range,
    transposed_out_of_range) and the works in another meter throughout (other_meter_works)."""

    tracks: tuple[str, ...]
    programs: tuple[int, ...]
    bars: int
    steps_per_beat: int
    beats_per_bar: int
    low_pitch: int
    high_pitch: int
    meter: str = "4/4"
    hop: int = 4
    min_notes: int = 8
    manifest: str | None = None
    transpose: tuple[int, int] | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    skipped: tuple[SkippedWork, ...] = ()
    data_dir: str | None = None
    counts: dict[str, SegmentCounts] = field(default_factory=dict)
    works: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def tokenizer_hash(self) -> None:
        """None: piano rolls have no tokenizer."""
        return None

    @property
    def phrase_steps(self) -> int:
        return self.bars * self.beats_per_bar * self.steps_per_beat

    @property
    def pitches(self) -> int:
        return self.high_pitch - self.low_pitch

    @classmethod
    def from_json(cls, data: Any, where: str = META_FILE) -> PhrasesMeta:
        """Validate a parsed phrases meta.json; raises MetaError (one line)."""
        if not isinstance(data, dict) or data.get("kind") != PHRASES_KIND:
            raise MetaError(f"{where}: not a phrases meta.json (kind {PHRASES_KIND!r})")
        for key in ("bars", "steps_per_beat", "beats_per_bar", "low_pitch", "high_pitch"):
            _need(data, key, int, where)
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        try:
            transpose = data.get("transpose")
            return cls(
                **values
                | {
                    "tracks": tuple(data["tracks"]),
                    "programs": tuple(data["programs"]),
                    "transpose": tuple(transpose) if transpose is not None else None,
                    "skipped": tuple(SkippedWork(**s) for s in data.get("skipped", ())),
                    "counts": {k: SegmentCounts(**v) for k, v in data.get("counts", {}).items()},
                    "works": {k: tuple(v) for k, v in data.get("works", {}).items()},
                }
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise MetaError(f"{where}: {' '.join(str(err).split())}") from None

    def to_json(self) -> dict:
        data = {"kind": PHRASES_KIND, **asdict(self)}
        data["transpose"] = list(self.transpose) if self.transpose is not None else None
        return data


Meta = DataMeta | SegmentsMeta | AudioMeta | PhrasesMeta


def meta_from_json(data: Any, where: str = META_FILE) -> Meta:
    """A parsed meta.json as the record its ``kind`` names (no kind: token data)."""
    if isinstance(data, dict) and data.get("kind") == SEGMENTS_KIND:
        return SegmentsMeta.from_json(data, where)
    if isinstance(data, dict) and data.get("kind") == AUDIO_KIND:
        return AudioMeta.from_json(data, where)
    if isinstance(data, dict) and data.get("kind") == PHRASES_KIND:
        return PhrasesMeta.from_json(data, where)
    if isinstance(data, dict) and "kind" in data:
        raise MetaError(f"{where}: unknown kind {data['kind']!r}")
    return DataMeta.from_json(data, where)


def encoding_mismatch(trained: Meta, data: Meta) -> str | None:
    """What makes DATA's tokens mean something else than those of the data TRAINED (a run's
    meta.json) was trained on, in words; None when they agree. The tokenizer hash alone is not
    enough: a full-view run scored on a melody_over_chords folder (same tokenizer, chord ids
    after its vocabulary) reports NaN and 0.0 accuracy and exits 0."""
    if type(trained) is not type(data):
        return f"it holds {type(data).__name__} data, the run {type(trained).__name__} data"
    differences = []
    if isinstance(trained, DataMeta):
        if trained.tokenizer_hash != data.tokenizer_hash:
            differences.append(
                f"tokenizer {data.tokenizer_hash[:12]}, not {trained.tokenizer_hash[:12]}"
            )
        if trained.view != data.view:
            differences.append(f"view {_words(data.view)}, not {_words(trained.view)}")
        elif trained.extra_tokens != data.extra_tokens:
            differences.append("other extra (chord) tokens")
    vocab, trained_vocab = getattr(data, "vocab_size", None), getattr(trained, "vocab_size", None)
    if vocab != trained_vocab:
        differences.append(f"a vocabulary of {vocab}, not {trained_vocab}")
    return "; ".join(differences) or None


def _words(view: View) -> str:
    """A view as `melody_over_chords (chord_rate=beat)`."""
    data = view.to_json()
    options = ", ".join(f"{k}={v}" for k, v in data.items() if k != "name" and v is not None)
    return f"{data['name']} ({options})" if options else data["name"]


def read_meta(path: str | Path) -> Meta:
    """Read and validate one meta.json file (a data folder's or a run directory's)."""
    return meta_from_json(read_json(path, MetaError), str(path))


def write_meta(meta: Meta, path: str | Path) -> Path:
    """Write ``meta`` as meta.json (indent 1, as prepare always wrote it); returns the path."""
    path = Path(path)
    path.write_text(json.dumps(meta.to_json(), indent=1) + "\n")
    return path


def load_meta(data_dir: str | Path) -> Meta:
    """meta.json of a prepared data folder; a missing one means prepare did not finish."""
    path = Path(data_dir) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{data_dir}: no meta.json; run `symbolic prepare` first")
    return read_meta(path)
