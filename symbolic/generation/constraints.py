"""Hard musical constraints as token-id masks and a small side automaton: numpy only.

A ``Constraints`` object is a second automaton that runs beside the grammar
(``symbolic.generation.grammar``), so the sampler masks a token unless *both* allow it. It is the
product of a few tiny components, each an ``[E, V]`` table pair over token ids:

* key / pitch range: static masks on ``Pitch`` (MIDI-Like: ``NoteOn``) tokens; drums
  (``PitchDrum``, ``DrumOn``) are unpitched, so never masked;
* polyphony: a counter of notes at the current onset, reset by ``Position`` and ``Bar``;
  at the limit no ``Program`` or ``Pitch`` may start another note there (``--monophonic``
  is a limit of 1). It counts notes per onset, not sounding notes: a long note may still
  ring under the next onset (``midi_io`` trims same-pitch overlaps only);
* rhythmic grid: ``Position`` tokens only on multiples of the grid step. A position is a
  twelfth of the time signature's beat (a quarter in x/4, an eighth in x/8), so the
  component remembers the last ``TimeSig`` denominator;
* bars: a counter of ``Bar`` tokens; once N bars have started, the next ``Bar`` is
  forbidden and its probability goes to EOS (``merge_into_eos``), so the piece ends where
  the model would have begun bar N + 1.

The product stays small (at most ``(k + 1) * 2 * (N + 1)`` states) because the grammar
state is not part of it. Dead ends: the grammar forces a ``Pitch`` after ``Program``, so
the polyphony component forbids ``Program`` with the ``Pitch``; an empty pitch set is an
error here, before sampling; and the sampler falls back to the grammar mask alone for a
row where the intersection leaves nothing (documented safety net, not expected to fire).
Never imports jax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from symbolic.music.keys import Key

# Grid name -> length in quarter notes (as a fraction numerator/denominator).
GRIDS = {
    "4th": (1, 1),
    "quarter": (1, 1),
    "8th": (1, 2),
    "16th": (1, 4),
    "8th-triplet": (1, 3),
    "16th-triplet": (1, 6),
}


def parse_programs(text: str) -> frozenset[int] | None:
    """``"0,33"`` -> GM programs {0, 33} (``-1`` or ``drums``: the drum kit); ``"all"`` -> None
    (no restriction)."""
    if text.strip().lower() == "all":
        return None
    items = [item.strip().lower() for item in text.split(",")]
    if not all(re.fullmatch(r"-1|\d{1,3}|drums", item) for item in items):
        raise ValueError(f"programs {text!r}: expected GM programs 0-127 (-1: drums), e.g. 0,33")
    programs = frozenset(-1 if item == "drums" else int(item) for item in items)
    if max(programs) > 127:
        raise ValueError(f"programs {text!r}: a GM program is 0..127 (-1: drums)")
    return programs


def parse_pitch_range(text: str) -> tuple[int, int]:
    """``"60-84"`` -> ``(60, 84)``, both inclusive MIDI pitches."""
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
    if not match or int(match[1]) > int(match[2]) or int(match[2]) > 127:
        raise ValueError(f"pitch range {text!r}: expected LOW-HIGH MIDI pitches, e.g. 60-84")
    return int(match[1]), int(match[2])


@dataclass(frozen=True)
class Spec:
    """What to constrain; ``None`` leaves that aspect free."""

    key: Key | None = None
    pitch_range: tuple[int, int] | None = None
    max_polyphony: int | None = None  # notes per onset; 1 is monophonic
    grid: str | None = None  # a name in GRIDS
    bars: int | None = None  # new bars before EOS
    programs: frozenset[int] | None = None  # GM programs the Program tokens may name

    def __post_init__(self) -> None:
        if self.max_polyphony is not None and self.max_polyphony < 1:
            raise ValueError(f"max polyphony must be >= 1, got {self.max_polyphony}")
        if self.grid is not None and self.grid not in GRIDS:
            raise ValueError(f"grid {self.grid!r}: expected one of {', '.join(GRIDS)}")
        if self.bars is not None and self.bars < 1:
            raise ValueError(f"bars must be >= 1, got {self.bars}")


@dataclass(frozen=True)
class Component:
    """One small automaton over token ids: ``allowed``/``transition`` are ``[E, V]``.

    ``merge_into_eos`` ``[E, V]`` bool marks forbidden tokens whose probability moves to
    EOS. ``counts_prompt`` False means the component starts fresh after a prompt.
    """

    allowed: np.ndarray
    transition: np.ndarray
    merge_into_eos: np.ndarray
    start: int = 0
    counts_prompt: bool = True


@dataclass(frozen=True)
class Constraints:
    """The product of components: tables ``[E, V]`` for the sampler, plus the parts."""

    allowed: np.ndarray  # [E, V] bool
    transition: np.ndarray  # [E, V] int32
    merge_into_eos: np.ndarray  # [E, V] bool
    components: tuple[Component, ...]

    def state_after(self, ids) -> int:
        """Product state after the prompt ``ids`` (after BOS), not checking ``allowed``: a
        prompt need not obey the constraints, only the continuation does."""
        parts = []
        for comp in self.components:
            state = comp.start
            if comp.counts_prompt:
                for token in np.asarray(ids, dtype=np.int64).reshape(-1):
                    state = int(comp.transition[state, token])
            parts.append(state)
        return _encode(parts, [c.allowed.shape[0] for c in self.components])


def _encode(parts: list[int], sizes: list[int]) -> int:
    index = 0
    for part, size in zip(parts, sizes, strict=True):
        index = index * size + part
    return index


def _ids(vocab: dict[str, int], kind: str) -> dict[str, int]:
    """``{value: id}`` of the tokens ``kind_value``."""
    prefix = kind + "_"
    return {tok[len(prefix) :]: i for tok, i in vocab.items() if tok.startswith(prefix)}


def static(vocab_size: int, mask: np.ndarray) -> Component:
    """A one-state component allowing ``mask`` ``[V]`` bool."""
    return Component(
        mask[None].copy(),
        np.zeros((1, vocab_size), np.int32),
        np.zeros((1, vocab_size), bool),
    )


def pitch_mask(vocab: dict[str, int], key: Key | None, pitch_range) -> np.ndarray:
    """``[V]`` bool: every token except ``Pitch`` tokens outside the key or range.

    Raises:
        ValueError: no ``Pitch`` token is left (the constraints contradict each other).
    """
    mask = np.ones(len(vocab), bool)
    # REMI/TSD start a note with Pitch, MIDI-Like with NoteOn (its NoteOff may stay: harmless).
    pitches = {**_ids(vocab, "Pitch"), **{f"on{k}": i for k, i in _ids(vocab, "NoteOn").items()}}
    low, high = pitch_range if pitch_range else (0, 127)
    for value, i in pitches.items():
        pitch = int(value.removeprefix("on"))
        in_key = key is None or pitch % 12 in key.pitch_classes()
        mask[i] = in_key and low <= pitch <= high
    if pitches and not mask[list(pitches.values())].any():
        raise ValueError(
            f"no pitch of the tokenizer is both in the key and in the range {pitch_range}"
        )
    return mask


def program_mask(vocab: dict[str, int], programs: frozenset[int]) -> np.ndarray:
    """``[V]`` bool: every token except ``Program`` tokens of other programs.

    Raises:
        ValueError: a program the tokenizer has no token for.
    """
    ids = {int(value): i for value, i in _ids(vocab, "Program").items()}
    missing = sorted(programs - set(ids))
    if missing:
        raise ValueError(f"programs {missing}: the tokenizer has no Program token for them")
    mask = np.ones(len(vocab), bool)
    mask[[i for program, i in ids.items() if program not in programs]] = False
    return mask


def polyphony(vocab: dict[str, int], limit: int) -> Component:
    """Count notes since the last ``Position``/``Bar``; at ``limit`` (>= 1, checked by
    ``Spec``) forbid a new note."""
    size = len(vocab)
    notes = [*_ids(vocab, "Pitch").values(), *_ids(vocab, "PitchDrum").values()]
    resets = [*_ids(vocab, "Position").values(), *_ids(vocab, "Bar").values()]
    starts = list(_ids(vocab, "Program").values())
    counts = np.arange(limit + 1, dtype=np.int32)
    transition = np.repeat(counts[:, None], size, axis=1)
    transition[:, notes] = np.minimum(counts + 1, limit)[:, None]
    transition[:, resets] = 0
    allowed = np.ones((limit + 1, size), bool)
    allowed[limit, notes + starts] = False
    return Component(allowed, transition, np.zeros_like(allowed))


def grid(vocab: dict[str, int], name: str, positions_per_beat: int) -> Component:
    """Positions on the grid ``name`` (in GRIDS, checked by ``Spec``); state 0 under an x/4
    time signature, 1 under x/8."""
    num, den = GRIDS[name]
    size = len(vocab)
    # A TimeSig sets the state from its denominator; any other token keeps it.
    transition = np.repeat(np.array([[0], [1]], np.int32), size, axis=1)
    for value, i in _ids(vocab, "TimeSig").items():
        transition[:, i] = 1 if value.endswith("/8") else 0
    allowed = np.ones((2, size), bool)
    for state, beat_in_quarters in ((0, (1, 1)), (1, (1, 2))):
        # Grid step in positions: grid length / beat length * positions per beat.
        step_num = num * beat_in_quarters[1] * positions_per_beat
        step_den = den * beat_in_quarters[0]
        if step_num % step_den:
            raise ValueError(f"grid {name} does not fall on the tokenizer's positions")
        step = step_num // step_den
        for value, i in _ids(vocab, "Position").items():
            allowed[state, i] = int(value) % step == 0
    return Component(allowed, transition, np.zeros_like(allowed))


def bar_limit(vocab: dict[str, int], bars: int) -> Component:
    """Count ``Bar`` tokens; after ``bars`` (>= 1, checked by ``Spec``) of them the next
    ``Bar`` becomes EOS."""
    size = len(vocab)
    bar = vocab["Bar_None"]
    counts = np.arange(bars + 1, dtype=np.int32)
    transition = np.repeat(counts[:, None], size, axis=1)
    transition[:, bar] = np.minimum(counts + 1, bars)
    allowed = np.ones((bars + 1, size), bool)
    allowed[bars, bar] = False
    merge = np.zeros_like(allowed)
    merge[bars, bar] = True
    return Component(allowed, transition, merge, counts_prompt=False)


def widen(component: Component, vocab_size: int) -> Component:
    """``component`` over a model vocabulary of ``vocab_size`` ids: ids appended after the
    tokenizer's are allowed (the grammar decides about them), keep the state, never merge."""
    states, vocab = component.allowed.shape
    extra = vocab_size - vocab
    if extra == 0:
        return component
    keep = np.repeat(np.arange(states, dtype=np.int32)[:, None], extra, axis=1)
    return replace(
        component,
        allowed=np.concatenate([component.allowed, np.ones((states, extra), bool)], axis=1),
        transition=np.concatenate([component.transition, keep], axis=1),
        merge_into_eos=np.concatenate([component.merge_into_eos, np.zeros_like(keep, bool)], 1),
    )


def combine(components: list[Component], vocab_size: int) -> Constraints:
    """The product automaton of ``components`` (mixed-radix state index, first most
    significant): a token is allowed when every component allows it."""
    if not components:
        components = [static(vocab_size, np.ones(vocab_size, bool))]
    allowed = np.ones((1, vocab_size), bool)
    transition = np.zeros((1, vocab_size), np.int32)
    merge = np.zeros((1, vocab_size), bool)
    for comp in components:
        e = comp.allowed.shape[0]
        # New state (old, e_comp) -> old * e + e_comp.
        allowed = (allowed[:, None] & comp.allowed[None]).reshape(-1, vocab_size)
        merge = (merge[:, None] | comp.merge_into_eos[None]).reshape(-1, vocab_size)
        transition = (transition[:, None] * e + comp.transition[None]).reshape(-1, vocab_size)
    return Constraints(allowed, transition.astype(np.int32), merge, tuple(components))


def build(tokenizer, spec: Spec, vocab_size: int | None = None) -> Constraints:
    """Constraints for a REMI tokenizer (``tokenizer.vocab`` and its positions per beat), over
    a model vocabulary of ``vocab_size`` ids (default: the tokenizer's; see ``widen``).

    Raises:
        ValueError: an impossible constraint, or grid/bars with a tokenizer without
            ``Position``/``Bar`` tokens (TSD, MIDI-Like).
    """
    vocab = dict(tokenizer.vocab)
    comps = []
    if spec.key is not None or spec.pitch_range is not None:
        comps.append(static(len(vocab), pitch_mask(vocab, spec.key, spec.pitch_range)))
    if spec.programs is not None and _ids(vocab, "Program"):
        comps.append(static(len(vocab), program_mask(vocab, spec.programs)))
    if (spec.grid or spec.bars or spec.max_polyphony) and "Bar_None" not in vocab:
        raise ValueError("grid, bars and polyphony constraints need a REMI tokenizer")
    if spec.max_polyphony is not None:
        comps.append(polyphony(vocab, spec.max_polyphony))
    if spec.grid is not None:
        comps.append(grid(vocab, spec.grid, tokenizer.config.max_num_pos_per_beat))
    if spec.bars is not None:
        comps.append(bar_limit(vocab, spec.bars))
    vocab_size = vocab_size or len(vocab)
    return combine([widen(c, vocab_size) for c in comps], vocab_size)
