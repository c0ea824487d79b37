"""Generation conditions (chords, a melody, tempo, time signature) as the model's own input.

A condition becomes tokens the model reads, never an edit of its output:

* a prompt: BOS and the condition's tokens of the first bar;
* a constraint automaton (a ``symbolic.generation.constraints.Component`` intersected with the
  grammar at every step) that forces the condition's tokens of each later bar as soon as
  the model opens that bar with ``Bar``, keeps the condition's kind of token out of the
  free part, and ends the piece with the condition: the ``Bar`` after the last
  conditioned bar becomes EOS, and EOS before it is forbidden.

This is the per-bar layout of ``symbolic.data.views`` replayed at generation time:

* ``--chords "C G Am F"`` / ``--chords-file`` (a ``melody_over_chords`` run): each bar is
  ``Bar TimeSig <chords, forced> <melody, sampled>``;
* ``--melody FILE`` (a ``chords_for_melody`` run): ``Bar TimeSig <melody, forced>
  <chords, sampled>``, so every bar of the melody gets its chords (N.C. is not sampled:
  a bar where the melody rests is harmonised too);
* ``--tempo`` / ``--time-signature`` (any run): the prompt opens with ``Bar TimeSig``
  (REMI) and ``Position_0 Tempo`` where the view allows, and every later ``TimeSig`` and
  ``Tempo`` token must be those. Tempo tokens are bins (32 from 40 to 250 bpm), so the
  output MIDI gets the exact tempo asked for.

Numpy only (generate.py jits the sampler).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from symusic import Tempo

from symbolic import tokenization
from symbolic.data import views
from symbolic.data.convert import load_primer
from symbolic.data.meta import DataMeta
from symbolic.generation import constraints
from symbolic.music import chords
from symbolic.music import meter as meter_lib


@dataclass(frozen=True)
class Condition:
    """What to condition on; the defaults condition on nothing."""

    chords: str | None = None  # "C G Am F" (a chord a bar) or "C:2 G:2 Am F" (beats)
    chords_file: str | Path | None = None  # a MIDI/score file whose harmony to follow
    melody: str | Path | None = None  # a MIDI/score file to harmonise (its top voice)
    tempo: float | None = None  # beats per minute
    time_signature: str | None = None  # "3/4"

    def __post_init__(self) -> None:
        # A falsy tempo would otherwise read as "no tempo" and be dropped without a word.
        if self.tempo is not None and not (math.isfinite(self.tempo) and self.tempo > 0):
            raise ValueError(
                f"tempo must be a finite number of beats per minute > 0, got {self.tempo}"
            )

    @property
    def is_empty(self) -> bool:
        return self == Condition()

    def to_json(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Plan:
    """A condition as tokens: the prompt, the automata forcing the rest, and what the output
    MIDI needs."""

    prompt: list[int]  # BOS, then the forced tokens of the first bar
    components: tuple[constraints.Component, ...]
    needed_tokens: int  # new tokens the forced part takes (the exact total for --melody)
    tempo: float | None  # exact bpm for the output MIDI (tokens hold a bin)


def _needs(view: views.View, condition: Condition, where: str) -> None:
    """A one-line error when the run was not trained for the condition."""
    if condition.chords and condition.chords_file:
        raise ValueError("give the chords either as --chords or as --chords-file, not both")
    if (condition.chords or condition.chords_file) and condition.melody:
        raise ValueError("--chords and --melody are two tasks: give one of them")
    wanted = None
    if condition.chords or condition.chords_file:
        wanted, flag = "melody_over_chords", "--chords"
    elif condition.melody:
        wanted, flag = "chords_for_melody", "--melody"
    if wanted and view.name != wanted:
        raise ValueError(
            f"{where} was trained on the {view.name!r} view; {flag} needs a run prepared with "
            f"--view {wanted}"
        )
    if (condition.chords_file or condition.melody) and condition.time_signature:
        raise ValueError("--time-signature: the file's own meter is used; leave it out")
    if condition.melody and condition.tempo:
        raise ValueError("--tempo: the melody file's own tempo is used; leave it out")


def time_signature_id(tokenizer, text: str) -> int:
    """``"3/4"`` -> the id of ``TimeSig_3/4`` (an error lists the tokenizer's meters)."""
    token = f"TimeSig_{text.strip()}"
    if token not in tokenizer.vocab:
        have = sorted(t.split("_", 1)[1] for t in tokenizer.vocab if t.startswith("TimeSig_"))
        raise ValueError(f"time signature {text!r}: not in the tokenizer (have {', '.join(have)})")
    return tokenizer.vocab[token]


def tempo_id(tokenizer, bpm: float) -> int:
    """The ``Tempo`` token MidiTok would write for ``bpm``: the nearest in microseconds per
    beat."""
    vocab = tokenizer.vocab
    tempos = {float(t.split("_", 1)[1]): i for t, i in vocab.items() if t.startswith("Tempo_")}
    if not tempos:
        raise ValueError("--tempo: this run's tokenizer has no tempo tokens")
    low, high = min(tempos), max(tempos)
    if not low <= bpm <= high:
        raise ValueError(f"tempo {bpm:g}: outside the tokenizer's range {low:g}-{high:g} bpm")
    return tempos[min(tempos, key=lambda t: abs(60e6 / t - 60e6 / bpm))]


def forced_bars(
    vocab_size: int, bar_id: int, eos_id: int, segments: list[list[int]], free: np.ndarray
) -> constraints.Component:
    """An automaton forcing ``segments[i]`` right after the ``Bar`` that opens bar i.

    States: 0 before the first Bar; then per bar its forced states and one free state,
    where only ``free`` [V] bool, ``Bar`` (not in the last bar: there it becomes EOS) and
    EOS (only in the last bar) may come.
    """
    starts = np.cumsum([1] + [len(seg) + 1 for seg in segments])
    total = int(starts[-1])
    transition = np.repeat(np.arange(total, dtype=np.int32)[:, None], vocab_size, axis=1)
    allowed = np.zeros((total, vocab_size), bool)
    merge = np.zeros_like(allowed)
    allowed[0, bar_id], transition[0, bar_id] = True, starts[0]
    for i, seg in enumerate(segments):
        for j, token in enumerate(seg):
            allowed[starts[i] + j, token] = True
            transition[starts[i] + j, token] = starts[i] + j + 1
        free_state = starts[i] + len(seg)
        allowed[free_state] = free
        last = i == len(segments) - 1
        allowed[free_state, bar_id], allowed[free_state, eos_id] = not last, last
        if last:
            merge[free_state, bar_id] = True
        else:
            transition[free_state, bar_id] = starts[i + 1]
    return constraints.Component(allowed, transition, merge)


def _meter_mask(tokenizer, vocab_size: int, time_sig: int | None, tempo: int | None):
    """[V] bool: every token but the TimeSig / Tempo tokens other than the given ones."""
    mask = np.ones(vocab_size, bool)
    for token, i in tokenizer.vocab.items():
        kind = token.split("_", 1)[0]
        if (kind == "TimeSig" and time_sig is not None) or (kind == "Tempo" and tempo is not None):
            mask[i] = i in (time_sig, tempo)
    return mask


def _harmony(tokenizer, view: views.View, condition: Condition) -> views.Harmony:
    if condition.chords_file:
        try:
            return views.harmony(tokenizer, load_primer(condition.chords_file), view.chord_rate)
        except views.NoContent as err:
            raise ValueError(f"{condition.chords_file}: {err}") from None
    meter = meter_lib.parse_meter(condition.time_signature or "4/4")
    return views.harmony_from_progression(condition.chords, meter, view.chord_rate)


def _melody_bars(tokenizer, view: views.View, condition: Condition) -> tuple[list, int]:
    """The melody file's bars without their ``Bar`` token, and the chord tokens they need."""
    try:
        melody = views.melody_score(load_primer(condition.melody))
    except views.NoContent as err:
        raise ValueError(f"{condition.melody}: {err}") from None
    ids = tokenization.encode(tokenizer, melody)
    if not ids:
        raise ValueError(f"{condition.melody}: no notes in the tokenizer's range")
    slots = sum(meter_lib.slots_per_bar(m, view.chord_rate) for m in views.meters(tokenizer, ids))
    return [bar[1:] for bar in views.bars(tokenizer, ids)], slots


def plan(tokenizer, meta: DataMeta, condition: Condition, where: str = "the run") -> Plan:
    """The prompt and automata for ``condition`` on a run with ``meta`` (its view, ids).

    Raises:
        ValueError: the run was not trained for the condition, or bad condition input.
    """
    view = meta.view
    _needs(view, condition, where)
    vocab_size, bos, eos = meta.vocab_size, meta.special_ids.bos, meta.special_ids.eos
    ts = time_signature_id(tokenizer, condition.time_signature or "4/4")
    tempo = tempo_id(tokenizer, condition.tempo) if condition.tempo else None
    mask = _meter_mask(tokenizer, vocab_size, ts if condition.time_signature else None, tempo)
    chord_ids = np.zeros(vocab_size, bool)
    chord_ids[list(views.extra_tokens(tokenizer, view).values())] = True
    bar = tokenizer.vocab.get("Bar_None")
    if condition.melody:
        segments, chords_needed = _melody_bars(tokenizer, view, condition)
        free = chord_ids.copy()  # a chord on every beat, rests too: N.C. is never sampled
        free[len(tokenizer.vocab) + chords.NO_CHORD] = False
    elif condition.chords or condition.chords_file:
        harmony = _harmony(tokenizer, view, condition)
        first = len(tokenizer.vocab)
        segments = [
            [tokenizer.vocab[f"TimeSig_{m[0]}/{m[1]}"], *(first + v for v in labels)]
            for m, labels in zip(harmony.meters, harmony.labels, strict=True)
        ]
        if tempo is not None:
            segments[0] += [tokenizer.vocab["Position_0"], tempo]
        free, chords_needed = mask & ~chord_ids, 0
    else:
        return _meter_plan(tokenizer, view, condition, (bos, ts, tempo), mask)
    component = forced_bars(vocab_size, bar, eos, segments, free)
    needed = sum(len(seg) + 1 for seg in segments[1:]) + chords_needed + 1
    return Plan([bos, bar, *segments[0]], (component,), needed, condition.tempo)


def _meter_plan(tokenizer, view: views.View, condition: Condition, ids: tuple, mask) -> Plan:
    """Tempo and/or time signature alone: a prefix of those tokens and a mask for the rest."""
    bos, ts, tempo = ids
    prompt = [bos]
    if "Bar_None" in tokenizer.vocab:
        prompt += [tokenizer.vocab["Bar_None"], ts]
        if tempo is not None and not (view.has_chords and view.chords_first):  # chords first
            prompt += [tokenizer.vocab["Position_0"], tempo]
    else:
        prompt += [ts] + ([tempo] if tempo is not None else [])
    component = constraints.static(len(mask), mask)
    return Plan(prompt, (component,), 0, condition.tempo)


def tables(tokenizer, spec: constraints.Spec, condition_plan: Plan, vocab_size: int):
    """``(Constraints, state after the prompt)``: the user's constraints ``spec`` and the
    plan's automata in one product over a model vocabulary of ``vocab_size`` ids."""
    built = constraints.build(tokenizer, spec, vocab_size)
    # The condition's prompt opens the new piece (unlike a --prompt MIDI), so its Bar counts
    # towards --bars.
    user = [replace(c, counts_prompt=True) for c in built.components]
    mine = [constraints.widen(c, vocab_size) for c in condition_plan.components]
    table = constraints.combine([*user, *mine], vocab_size)
    return table, table.state_after(condition_plan.prompt[1:])


def set_tempo(score, bpm: float) -> None:
    """Give a decoded ``symusic.Score`` exactly ``bpm`` (its tokens held the nearest bin)."""
    score.tempos = [Tempo(0, float(bpm))]
