"""A deterministic finite automaton over token ids, so a sampler can mask bad tokens.

``build_grammar(tokenizer)`` turns a MidiTok REMI, TSD or MIDI-Like tokenizer (one
token stream with programs, as in our presets) into two dense tables a JAX sampler can
index: ``allowed[state]`` is the mask for the next token and ``transition[state, id]``
the state after emitting it. Numpy only; tokenizers are read through their vocabulary
(``"Type_Value"`` strings), so this module does not import miditok.

What the automaton enforces (a strict subset of MidiTok's ``tokens_types_graph``, i.e.
only the canonical forms the encoder produces, so real data is always accepted):

* REMI: ``Bar TimeSig`` opens every bar; a note is ``Program Pitch Velocity Duration``
  (``Program_-1`` takes ``PitchDrum``); every note or tempo follows a ``Position``;
  positions strictly increase inside a bar and stay inside the bar length of the
  bar's time signature (numerator x positions per beat: MidiTok counts positions in beats
  of the denominator, so 6/8 and 6/4 bars both hold 72 and share their states). State =
  (phase, bar length, position).
* TSD: notes as above; time moves by ``TimeShift`` only, so it cannot go backwards.
* MIDI-Like: ``Program NoteOn Velocity`` and ``Program NoteOff`` (drums: ``DrumOn``,
  ``DrumOff``). Whether a ``NoteOff`` closes a sounding note needs the set of sounding
  notes, which no automaton of reasonable size can hold; MidiTok counts those pairings
  as errors, the decoder drops unmatched ``NoteOff`` and ends open notes after the
  preset's ``max_duration``.
* EOS is allowed only right after a complete note, so a stream stopped by EOS decodes
  to a score with at least one note. After EOS only EOS is allowed (an absorbing end
  state, so batched samplers can keep emitting it). PAD, BOS and MASK are never
  allowed. Every state allows at least one token.

``transition`` entries for disallowed tokens point back to the same state, so an
unmasked lookup stays in range.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from symbolic.music.chords import ChordSlots


@dataclass(frozen=True)
class Grammar:
    """Token automaton. ``allowed``: ``[num_states, vocab]`` bool; ``transition``:
    ``[num_states, vocab]`` int32; ``start_state``: the state right after BOS."""

    allowed: np.ndarray
    transition: np.ndarray
    start_state: int
    eos_id: int


class _Builder:
    """Collects named states and edges, then fills the dense tables."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self.index: dict[tuple, int] = {}
        self.edges: list[tuple[int, np.ndarray, np.ndarray | int]] = []

    def state(self, *key) -> int:
        """Index of the state named ``key``, created on first use."""
        return self.index.setdefault(key, len(self.index))

    def allow(self, state: int, ids, next_state) -> None:
        """Allow ``ids`` in ``state``; ``next_state`` is one index or one per id."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size:
            self.edges.append((state, ids, next_state))

    def build(self, start_state: int, eos_id: int) -> Grammar:
        num_states = len(self.index)
        allowed = np.zeros((num_states, self.vocab_size), dtype=bool)
        transition = np.repeat(
            np.arange(num_states, dtype=np.int32)[:, None], self.vocab_size, axis=1
        )
        for state, ids, next_state in self.edges:
            allowed[state, ids] = True
            transition[state, ids] = next_state
        dead = np.flatnonzero(~allowed.any(axis=1))
        if dead.size:
            names = [k for k, v in self.index.items() if v in set(dead.tolist())]
            raise AssertionError(f"grammar has states with no allowed token: {names[:5]}")
        return Grammar(allowed, transition, int(start_state), int(eos_id))


class _Vocab:
    """Token ids grouped by type, with parsed values, from a ``{token: id}`` dict."""

    def __init__(self, vocab: dict[str, int]) -> None:
        self.by_type: dict[str, list[tuple[str, int]]] = {}
        for token, i in sorted(vocab.items(), key=lambda kv: kv[1]):
            kind, _, value = token.partition("_")
            self.by_type.setdefault(kind, []).append((value, i))

    def ids(self, kind: str) -> np.ndarray:
        return np.array([i for _, i in self.by_type.get(kind, [])], dtype=np.int64)

    def values(self, kind: str) -> list[str]:
        return [v for v, _ in self.by_type.get(kind, [])]

    def one(self, token: str) -> int:
        kind, _, value = token.partition("_")
        return next(i for v, i in self.by_type[kind] if v == value)


_UNSUPPORTED = (
    "use_chords",
    "use_rests",
    "use_key_signatures",
    "use_sustain_pedals",
    "use_pitch_bends",
    "use_control_changes",
    "use_pitch_intervals",
    "program_changes",
)


def _check_config(tokenizer) -> None:
    """Reject tokenizer options the automaton does not model, with a clear message."""
    config = tokenizer.config
    used = [name for name in _UNSUPPORTED if getattr(config, name, False)]
    extra = config.additional_params
    if extra.get("use_bar_end_tokens") or extra.get("max_bar_embedding") is not None:
        used.append("bar end tokens / bar embeddings")
    if not (config.use_programs and config.one_token_stream_for_programs):
        used.append("not use_programs with one_token_stream_for_programs")
    if not config.use_velocities or len(config.use_note_duration_programs) < len(config.programs):
        used.append("notes without velocity/duration tokens for some programs")
    if -1 in config.programs and not config.use_pitchdrum_tokens:
        used.append("drums without PitchDrum/DrumOn tokens")
    if type(tokenizer).__name__ == "REMI" and not config.use_time_signatures:
        used.append("REMI without time signatures")
    if tokenizer.is_trained:
        used.append("a trained (BPE/Unigram) vocabulary")
    if used:
        raise ValueError(f"build_grammar: unsupported tokenizer options: {', '.join(used)}")


def _program_edges(b: _Builder, v: _Vocab, state: int, melodic: int, drum: int) -> None:
    """``Program_-1`` leads to the drum branch, any other program to the melodic one."""
    programs = np.array([int(x) for x in v.values("Program")])
    ids = v.ids("Program")
    b.allow(state, ids[programs >= 0], melodic)
    b.allow(state, ids[programs < 0], drum)


def _note_body(b: _Builder, v: _Vocab, key: tuple, pitch: str, end: int) -> tuple[int, int]:
    """States ``after Program`` (melodic, drum) of one ``Pitch Velocity Duration`` chain."""
    melodic, drum = b.state("program", *key), b.state("drum", *key)
    after_pitch, after_vel = b.state("pitch", *key), b.state("velocity", *key)
    b.allow(melodic, v.ids(pitch), after_pitch)
    b.allow(drum, v.ids(pitch + "Drum"), after_pitch)
    b.allow(after_pitch, v.ids("Velocity"), after_vel)
    b.allow(after_vel, v.ids("Duration"), end)
    return melodic, drum


def _build_remi(tokenizer, v: _Vocab, b: _Builder, eos: int, chords: ChordSlots | None) -> Grammar:
    """REMI: state = (phase, positions in the bar, chord slots of the bar, current position)."""
    per_beat = tokenizer.config.max_num_pos_per_beat
    pos_values = [int(x) for x in v.values("Position")]
    pos_ids = v.ids("Position")[np.argsort(pos_values)]  # pos_ids[p] is Position_p
    if sorted(pos_values) != list(range(len(pos_values))):
        raise ValueError("build_grammar: REMI positions are not 0..N-1")
    ts_ids, ts_values = v.ids("TimeSig"), v.values("TimeSig")

    def kind(time_sig: str) -> tuple[int, int]:
        slots = chords.per_bar[time_sig] if chords else 0
        return int(time_sig.split("/")[0]) * per_beat, slots

    start, after_bar, end = b.state("start"), b.state("bar"), b.state("end")
    b.allow(start, v.ids("Bar"), after_bar)
    b.allow(end, [eos], end)
    exits = (after_bar, end, eos)
    entries = {key: _remi_bar(b, v, key, pos_ids, exits, chords) for key in map(kind, ts_values)}
    b.allow(after_bar, ts_ids, [entries[kind(t)] for t in ts_values])
    return b.build(start, eos)


def _remi_bar(b: _Builder, v: _Vocab, key: tuple, pos_ids, exits: tuple, chords) -> int:
    """States of one kind of bar, ``key`` = (positions, chord slots); returns its entry state.

    ``exits`` = (state after Bar, end state, EOS id). Chords before the notes lead from the
    entry to ``bar_open``; chords after them lead from any state that may end the bar to a
    ``bar_end`` state, the only one allowing Bar or EOS.
    """
    length, slots = key
    after_bar, end, eos = exits
    bar_open = b.state("bar_open", *key)
    positions = [b.state("position", *key, p) for p in range(length)]
    b.allow(bar_open, pos_ids[:length], positions)
    closing, done_states = [bar_open], []  # states where the bar's notes may end
    for p in range(length):
        tempo, done = b.state("tempo", *key, p), b.state("note_done", *key, p)
        melodic, drum = _note_body(b, v, (*key, p), "Pitch", done)
        for state in (positions[p], tempo, done):
            _program_edges(b, v, state, melodic, drum)
        b.allow(positions[p], v.ids("Tempo"), tempo)
        for state in (tempo, done):
            b.allow(state, pos_ids[p + 1 : length], positions[p + 1 :])
        closing += [tempo, done]
        done_states.append(done)
    if slots and not chords.before_notes:
        chain = [b.state("chord", *key, j) for j in range(1, slots)] + [b.state("bar_end", *key)]
        for state in closing:
            b.allow(state, chords.ids, chain[0])
        for state, following in pairwise(chain):
            b.allow(state, chords.ids, following)
        closing, done_states = [chain[-1]], [chain[-1]]
    for state in closing:
        b.allow(state, v.ids("Bar"), after_bar)
    for state in done_states:
        b.allow(state, [eos], end)
    if not (slots and chords.before_notes):
        return bar_open
    b.allow(bar_open, [eos], end)  # the bar's chords are content enough to end on
    chain = [b.state("chord", *key, j) for j in range(slots)] + [bar_open]
    for state, following in pairwise(chain):
        b.allow(state, chords.ids, following)
    return chain[0]


def _time_edges(b: _Builder, v: _Vocab, states: tuple[int, ...], melodic: int, drum: int):
    """TSD/MIDI-Like time and global tokens; ``states`` = (shift, time_sig, tempo, done)."""
    shift, after_ts, tempo, done = states
    for state in states:
        _program_edges(b, v, state, melodic, drum)
        b.allow(state, v.ids("TimeShift"), shift)
    b.allow(shift, v.ids("TimeSig"), after_ts)
    for state in (shift, after_ts):
        b.allow(state, v.ids("Tempo"), tempo)


def _build_tsd(_tokenizer, v: _Vocab, b: _Builder, eos: int) -> Grammar:
    """TSD: phase-only states; time only moves forward, by ``TimeShift``."""
    end = b.state("end")
    b.allow(end, [eos], end)
    states = tuple(b.state(name) for name in ("shift", "time_sig", "tempo", "note_done"))
    melodic, drum = _note_body(b, v, (), "Pitch", states[3])
    _time_edges(b, v, states, melodic, drum)
    b.allow(states[3], [eos], end)
    return b.build(states[0], eos)


def _build_midi_like(_tokenizer, v: _Vocab, b: _Builder, eos: int) -> Grammar:
    """MIDI-Like: phase-only states, twice: before and after the first ``NoteOn``.

    The flag lets EOS wait for one note, so no stream stopped by EOS is empty.
    """
    end, after_on = b.state("end"), b.state("note_on")
    b.allow(end, [eos], end)
    for started in (False, True):
        names = ("shift", "time_sig", "tempo", "event_done")
        states = tuple(b.state(name, started) for name in names)
        melodic, drum = b.state("program", started), b.state("drum", started)
        b.allow(melodic, v.ids("NoteOn"), after_on)
        b.allow(drum, v.ids("DrumOn"), after_on)
        b.allow(melodic, v.ids("NoteOff"), states[3])
        b.allow(drum, v.ids("DrumOff"), states[3])
        _time_edges(b, v, states, melodic, drum)
    b.allow(after_on, v.ids("Velocity"), b.state("event_done", True))
    b.allow(b.state("event_done", True), [eos], end)
    return b.build(b.state("shift", False), eos)


def build_grammar(tokenizer, chords: ChordSlots | None = None) -> Grammar:
    """Automaton for a MidiTok REMI, TSD or MIDILike tokenizer (single stream, programs);
    ``chords`` adds chord-symbol tokens to REMI bars (ids after the vocabulary).

    Returns:
        ``Grammar`` with ``allowed [S, vocab] bool`` and ``transition [S, vocab] int32``.

    Raises:
        ValueError: another tokenization or options the automaton does not model.
    """
    name = type(tokenizer).__name__
    builders = {"REMI": _build_remi, "TSD": _build_tsd, "MIDILike": _build_midi_like}
    if name not in builders:
        raise ValueError(f"build_grammar: no grammar for {name} (supported: {', '.join(builders)})")
    _check_config(tokenizer)
    v = _Vocab(dict(tokenizer.vocab))
    eos, size = v.one("EOS_None"), len(tokenizer.vocab)
    if name == "REMI":
        size = size if chords is None else max(size, max(chords.ids) + 1)
        return _build_remi(tokenizer, v, _Builder(size), eos, chords)
    if chords is not None:
        raise ValueError(f"build_grammar: chord tokens need REMI's Bar tokens, not {name}")
    return builders[name](tokenizer, v, _Builder(size), eos)


def widen(grammar: Grammar, vocab_size: int) -> Grammar:
    """The automaton over a model vocabulary of ``vocab_size`` ids: ids appended after the
    tokenizer's (sentinels, separators) are never allowed and keep the state."""
    states, vocab = grammar.allowed.shape
    if vocab_size == vocab:
        return grammar
    if vocab_size < vocab:
        raise ValueError(f"a model vocabulary of {vocab_size} ids is smaller than {vocab} tokens")
    extra = vocab_size - vocab
    allowed = np.concatenate([grammar.allowed, np.zeros((states, extra), bool)], axis=1)
    keep = np.repeat(np.arange(states, dtype=np.int32)[:, None], extra, axis=1)
    transition = np.concatenate([grammar.transition, keep], axis=1)
    return Grammar(allowed, transition, grammar.start_state, grammar.eos_id)


def restrict(grammar: Grammar, forbidden) -> Grammar:
    """The automaton with the ids ``forbidden`` never allowed (a data view's vocabulary:
    drums only, no notes in a chord progression, ...).

    Raises:
        ValueError: a state would be left without any allowed token.
    """
    allowed = grammar.allowed.copy()
    allowed[:, np.asarray(list(forbidden), dtype=np.int64)] = False
    if not allowed.any(axis=1).all():
        raise ValueError("restrict: the forbidden tokens leave a grammar state with no token")
    return Grammar(allowed, grammar.transition, grammar.start_state, grammar.eos_id)


def state_after(grammar: Grammar, ids) -> int:
    """Run the automaton from ``start_state`` over ``ids`` (the tokens after BOS).

    Raises:
        ValueError: an id out of range or not allowed where it occurs.
    """
    ids = [int(i) for i in np.asarray(ids).reshape(-1)]
    vocab = grammar.allowed.shape[1]
    state = grammar.start_state
    for position, token in enumerate(ids):
        if not 0 <= token < vocab:
            raise ValueError(f"token id {token} at index {position} is outside [0, {vocab})")
        if not grammar.allowed[state, token]:
            raise ValueError(f"token id {token} at index {position} not allowed in state {state}")
        state = int(grammar.transition[state, token])
    return state
