"""Run directory -> token sequences -> MIDI files (and WAV): the generator jits the sampler here.

A run directory is self-contained (config.json, meta.json, tokenizer.json, checkpoints/), so
generation needs nothing else. The tokenizer is checked against the hash the model was trained
with, a prompt MIDI is checked against the token grammar before any sampling, and all `num`
samples are drawn in one batch by one compiled `symbolic.generation.sampling.sample`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from symbolic import models, tokenization
from symbolic.data import views
from symbolic.data.convert import load_score
from symbolic.generation import beam, conditioning, constraints, grammar, sampling
from symbolic.music import keys
from symbolic.output import midi as midi_io
from symbolic.train import checkpoint
from symbolic.train.config import RunConfig

REPORT_FILE = "generation.json"


@dataclass(frozen=True)
class LoadedRun:
    """What generation needs from a run directory."""

    config: RunConfig
    params: Any
    meta: dict
    tokenizer: Any  # a miditok.MusicTokenizer, loaded through symbolic.tokenization


@dataclass(frozen=True)
class Controls:
    """Controllable generation: hard constraints (masks at every step), repetition penalty,
    beam search and pictures. The defaults change nothing."""

    key: str | None = None  # "D minor": only Pitch tokens in the scale; also the key signature
    pitch_range: str | None = None  # "60-84", inclusive MIDI pitches
    monophonic: bool = False  # at most one note per onset (max_polyphony=1)
    max_polyphony: int | None = None  # at most this many notes per onset
    grid: str | None = None  # "8th": onsets only on this grid (see constraints.GRIDS)
    bars: int | None = None  # stop after this many new bars (the next Bar becomes EOS)
    repetition_penalty: float = 1.0  # on Pitch tokens already in the piece; 1.0 is off
    beam: int = 0  # beam width; 0 samples, >= 1 runs beam search (temperature ignored)
    plot: bool = False  # write a piano-roll PNG beside each MIDI

    def spec(self) -> constraints.Spec:
        """The constraints these controls ask for (parsed and checked)."""
        polyphony = 1 if self.monophonic else self.max_polyphony
        key = keys.parse_key(self.key) if self.key else None
        low_high = constraints.parse_pitch_range(self.pitch_range) if self.pitch_range else None
        return constraints.Spec(
            key=key,
            pitch_range=low_high,
            max_polyphony=polyphony,
            grid=self.grid,
            bars=self.bars,
        )


@dataclass(frozen=True)
class SamplingStats:
    """Timings of one batched sampling call (compilation excluded from tokens_per_s)."""

    num: int
    prompt_tokens: int  # per row, BOS included
    new_tokens: int  # summed over rows, EOS included
    compile_s: float
    sample_s: float
    tokens_per_s: float

    def summary(self) -> str:
        return (
            f"sampled {self.new_tokens} tokens in {self.sample_s:.2f} s "
            f"({self.tokens_per_s:.0f} tokens/s, batch {self.num}; compile {self.compile_s:.1f} s)"
        )


def load(run_dir: str | Path) -> LoadedRun:
    """Load config, best parameters, meta and tokenizer from RUN_DIR; check the tokenizer hash."""
    run_dir = Path(run_dir)
    config, params, meta = checkpoint.load_run(run_dir)
    tokenizer = tokenization.load_tokenizer(run_dir / checkpoint.TOKENIZER_FILE)
    found, expected = tokenization.tokenizer_hash(tokenizer), meta.get("tokenizer_hash")
    if found != expected:
        raise ValueError(
            f"{run_dir}/{checkpoint.TOKENIZER_FILE} has hash {found[:12]}, but the model was "
            f"trained with tokenizer {str(expected)[:12]}; the run directory is inconsistent"
        )
    return LoadedRun(config, params, meta, tokenizer)


def run_grammar(run: LoadedRun) -> grammar.Grammar:
    """The token automaton of the run's tokenizer and data view: its chord tokens, and none of
    the tokens the view never holds (a piano note in a drums run, ...)."""
    view = views.View.from_meta(run.meta)
    automaton = grammar.build_grammar(run.tokenizer, views.chord_slots(run.tokenizer, view))
    return grammar.restrict(automaton, views.forbidden_ids(run.tokenizer, view))


def prompt_ids(run: LoadedRun, automaton, prompt_midi: str | Path | None) -> tuple[list[int], int]:
    """BOS plus the tokens of `prompt_midi` in the run's data view (none without one), and the
    grammar state after them."""
    special = run.meta["special_ids"]
    if prompt_midi is None:
        return [special["bos"]], automaton.start_state
    try:
        body = views.encode_score(run.tokenizer, run.meta, load_score(prompt_midi))
    except views.NoContent as err:
        raise ValueError(f"{prompt_midi}: {err}") from None
    body = [i for i in body if i not in (special["bos"], special["eos"], special["pad"])]
    if not body:
        raise ValueError(f"{prompt_midi}: the prompt has no tokens (no notes?)")
    try:
        state = int(grammar.state_after(automaton, body))
    except ValueError as err:
        raise ValueError(f"{prompt_midi}: the token grammar rejects this prompt ({err})") from None
    return [special["bos"], *body], state


def check_length(config: RunConfig, prompt_len: int, max_tokens: int) -> None:
    """A KV cache holds config.model.max_len positions; prompt plus new tokens must fit."""
    max_len = getattr(config.model, "max_len", None)
    if max_len is not None and prompt_len + max_tokens > max_len:
        raise ValueError(
            f"prompt ({prompt_len} tokens with BOS) + max_tokens ({max_tokens}) = "
            f"{prompt_len + max_tokens} exceeds the model's max_len {max_len}; "
            f"use max_tokens <= {max_len - prompt_len} or a shorter prompt"
        )


def decode_config(config: RunConfig, length: int):
    """The model config to decode `length` tokens (prompt + new) with.

    Attention reads every slot of the KV cache at every step, so a RoPE Transformer gets a cache
    of `length` slots instead of max_len (2.3x faster for 1024 tokens of a 2048-slot demo model,
    batch 16). Learned positions keep max_len: it sizes their embedding table.
    """
    model = config.model
    if getattr(model, "position", None) == "rope" and length < model.max_len:
        return dataclasses.replace(model, max_len=length)
    return model


@functools.cache
def jitted_sampler(model_name: str, model_config, max_tokens: int, eos_id: int, pad_id: int):
    """`sampling.sample` bound to one model and jitted; cached so that generating again in the
    same process (a notebook, the tests) reuses the compilation."""
    step = functools.partial(models.get(model_name).decode_step, model_config)
    sample = functools.partial(
        sampling.sample, step, max_new_tokens=max_tokens, eos_id=eos_id, pad_id=pad_id
    )
    return jax.jit(sample)


@functools.cache
def jitted_beam(model_name: str, model_config, max_tokens: int, width: int, eos: int, pad: int):
    """`beam.beam_search` bound to one model and jitted (cached as `jitted_sampler`)."""
    step = functools.partial(models.get(model_name).decode_step, model_config)
    search = functools.partial(
        beam.beam_search,
        step,
        beam_width=width,
        max_new_tokens=max_tokens,
        eos_id=eos,
        pad_id=pad,
    )
    return jax.jit(search)


def _timed_compile(fn, args: tuple, kwargs: dict):
    """Compile a jitted fn for these arguments ahead of time: -> (compiled, seconds)."""
    started = time.perf_counter()
    compiled = fn.lower(*args, **kwargs).compile()
    return compiled, time.perf_counter() - started


def control_arrays(
    run: LoadedRun, controls: Controls, prompt: list[int], tables: tuple | None = None
) -> dict:
    """Sampler keyword arguments for the constraints and the repetition penalty of `controls`.

    `tables` (constraints.Constraints, state) replaces the constraints of `controls` (infilling
    adds its own automaton, `symbolic.generation.infill`); tables span the model's vocabulary.
    """
    kwargs: dict = {}
    spec, vocab_size = controls.spec(), run.config.model.vocab_size
    if tables is None and spec != constraints.Spec():
        built = constraints.build(run.tokenizer, spec, vocab_size)
        tables = built, built.state_after(prompt[1:])
    if tables is not None:
        kwargs["constraints"] = sampling.ConstraintArrays(
            jnp.asarray(tables[0].allowed),
            jnp.asarray(tables[0].transition),
            jnp.asarray(tables[0].merge_into_eos),
        )
        kwargs["constraint_states"] = tables[1]
    if controls.repetition_penalty != 1.0:
        pitches = np.zeros(vocab_size, bool)
        pitches[run.tokenizer.token_ids_of_type("Pitch")] = True
        kwargs["repetition_penalty"] = controls.repetition_penalty
        kwargs["penalty_ids"] = jnp.asarray(pitches)
    return kwargs


def _search_fn(run: LoadedRun, model_config, max_tokens: int, beam_width: int, num: int, eos: int):
    """The jitted sampler (or beam search when beam_width >= 1) and its decode-state rows."""
    pad = int(run.meta["special_ids"]["pad"])
    name = run.config.model_name
    if beam_width:
        return jitted_beam(name, model_config, max_tokens, beam_width, eos, pad), beam_width
    return jitted_sampler(name, model_config, max_tokens, eos, pad), num


def _search_kwargs(
    run: LoadedRun, automaton, prompt: list[int], grammar_state: int, controls, rows: int, tables
) -> dict:
    """Grammar, constraint and penalty keyword arguments for `rows` copies of the prompt."""
    extra = control_arrays(run, controls, prompt, tables)
    if "constraint_states" in extra:
        extra["constraint_states"] = jnp.full((rows,), extra["constraint_states"], jnp.int32)
    automaton = grammar.widen(automaton, run.config.model.vocab_size)  # ids after the tokenizer's
    return dict(
        grammar=sampling.GrammarArrays(
            jnp.asarray(automaton.allowed), jnp.asarray(automaton.transition, jnp.int32)
        ),
        grammar_states=jnp.full((rows,), grammar_state, jnp.int32),
        **extra,
    )


def sample_tokens(
    run: LoadedRun,
    prompt: list[int],
    grammar_state: int,
    automaton,
    *,
    num: int,
    max_tokens: int,
    temperature: float,
    top_k: int,
    top_p: float,
    seed: int,
    controls: Controls | None = None,
    tables: tuple | None = None,
    eos_id: int | None = None,
) -> tuple[np.ndarray, np.ndarray, SamplingStats]:
    """Sample `num` continuations of `prompt` in one batch (or beam search, see `Controls`).

    `tables` replaces the constraints of `controls` (see `control_arrays`), and `eos_id` the
    token that ends a row (default: EOS); infilling ends its middle with a sentinel instead.
    Returns tokens [num, P + max_tokens] int32, lengths [num] int32 (numpy) and timings.
    """
    controls = controls or Controls()
    check_length(run.config, len(prompt), max_tokens)
    model_config = decode_config(run.config, len(prompt) + max_tokens)
    rows = 1 if controls.beam else num  # beam search: one prompt, `beam` rows
    eos = int(run.meta["special_ids"]["eos"]) if eos_id is None else eos_id
    fn, state_rows = _search_fn(run, model_config, max_tokens, controls.beam, num, eos)
    kwargs = _search_kwargs(run, automaton, prompt, grammar_state, controls, rows, tables)
    if not controls.beam:
        kwargs.update(
            rng=jax.random.PRNGKey(seed), temperature=temperature, top_k=top_k, top_p=top_p
        )
    impl = models.get(run.config.model_name)
    args = (
        run.params,
        impl.init_decode_state(model_config, run.params, state_rows),
        jnp.asarray([prompt] * rows, jnp.int32),
    )
    compiled, compile_s = _timed_compile(fn, args, kwargs)
    started = time.perf_counter()
    out = jax.block_until_ready(compiled(*args, **kwargs))
    sample_s = time.perf_counter() - started
    tokens, lengths = np.asarray(out.tokens), np.asarray(out.lengths)
    if controls.beam:  # the best min(num, beam) beams, best first
        tokens, lengths = tokens[0, :num], lengths[0, :num]
        num = len(tokens)
    new = int((lengths - len(prompt)).sum())
    stats = SamplingStats(num, len(prompt), new, compile_s, sample_s, new / max(sample_s, 1e-9))
    return tokens, lengths, stats


def write_samples(
    run: LoadedRun,
    tokens: np.ndarray,
    lengths: np.ndarray,
    out_dir: Path,
    controls: Controls | None = None,
    edit: Callable[[Any], None] | None = None,
) -> tuple[list[Path], list[int]]:
    """Decode each row of tokens [num, L] (up to its length) to OUT_DIR/sample_NNN.mid, a
    DAW-ready file (`midi_io`) with the key signature of `controls.key` (else estimated), and
    a piano roll sample_NNN.png with `controls.plot`. `edit` may change each decoded
    `symusic.Score` in place before it is written (infilling restores the prompt's tempos).

    Returns the paths and each sample's note count; a sample without notes gets a warning.
    """
    controls = controls or Controls()
    key = keys.parse_key(controls.key) if controls.key else None
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, notes = [], []
    for i, (row, length) in enumerate(zip(tokens, lengths, strict=True)):
        path = out_dir / f"sample_{i:03d}.mid"
        score = views.decode(run.tokenizer, run.meta, row[:length])  # specials are dropped
        if edit is not None:
            edit(score)
        midi_io.save_daw_midi(score, path, key=key, monophonic=controls.monophonic)
        if controls.plot:
            from symbolic.output.plot import plot_midi  # matplotlib only when asked

            plot_midi(path, path.with_suffix(".png"))
        paths.append(path)
        notes.append(sum(len(track.notes) for track in score.tracks))
        if notes[-1] == 0:
            warnings.warn(f"{path}: the sample decoded to no notes", stacklevel=2)
    return paths, notes


def sampling_settings(
    *, num: int, max_tokens: int, temperature: float, top_k: int, top_p: float, seed: int
) -> dict:
    """The sampling settings of one generate call as a dict (also its report's), checked."""
    if num < 1 or max_tokens < 1:
        raise ValueError(f"num and max_tokens must be >= 1 (got {num}, {max_tokens})")
    return dict(
        num=num, max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed
    )


def generate(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    num: int = 4,
    max_tokens: int = 512,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
    prompt_midi: str | Path | None = None,
    render: bool = False,
    sample_rate: int = 44100,
    controls: Controls | None = None,
    condition: conditioning.Condition | None = None,
) -> list[Path]:
    """Sample `num` pieces from the run in RUN_DIR and write OUT_DIR/sample_000.mid, ... .

    With `prompt_midi` each piece is that MIDI's tokens followed by up to `max_tokens` new ones;
    without, it starts from BOS. temperature 0 is greedy; top_k 0 and top_p 1 disable those
    filters; the token grammar always applies. `render` also writes sample_000.wav, ... with
    FluidSynth. OUT_DIR/generation.json records the settings, lengths, note counts and the
    sampling speed, which is also printed. `controls` adds constraints, a repetition penalty,
    beam search and piano-roll PNGs (see `Controls`). `condition` gives chords, a melody, a
    tempo or a time signature as model input (`symbolic.generation.conditioning`); `max_tokens` is raised
    to what the condition's forced tokens take. Returns the MIDI paths, then the WAV paths.
    """
    settings = sampling_settings(
        num=num, max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed
    )
    run = load(run_dir)
    automaton = run_grammar(run)
    controls, condition = controls or Controls(), condition or conditioning.Condition()
    if condition.is_empty:
        prompt, state = prompt_ids(run, automaton, prompt_midi)
        plan, tables = None, None
    else:
        if prompt_midi is not None:
            raise ValueError("--prompt cannot be combined with a condition (chords, melody, ...)")
        plan = conditioning.plan(run.tokenizer, run.meta, condition, str(run_dir))
        prompt, state = plan.prompt, grammar.state_after(automaton, plan.prompt[1:])
        vocab_size = run.config.model.vocab_size
        tables = conditioning.tables(run.tokenizer, controls.spec(), plan, vocab_size)
        settings["max_tokens"] = max(max_tokens, plan.needed_tokens)
    tokens, lengths, stats = sample_tokens(
        run, prompt, state, automaton, **settings, controls=controls, tables=tables
    )
    tempo = plan.tempo if plan else None
    edit = functools.partial(conditioning.set_tempo, bpm=tempo) if tempo else None
    paths, notes = write_samples(run, tokens, lengths, Path(out_dir), controls, edit)
    report = {
        "run_dir": str(run_dir),
        "settings": {**settings, "prompt_midi": str(prompt_midi) if prompt_midi else None},
        "controls": asdict(controls),
        "condition": condition.to_json(),
        "stats": asdict(stats),
        "lengths": lengths.tolist(),
        "notes": notes,
    }
    return finish(paths, Path(out_dir), report, render, sample_rate)


def finish(paths: list[Path], out_dir: Path, report: dict, render: bool, sample_rate: int):
    """Render `paths` to WAV with `render`, write OUT_DIR/generation.json and print the
    sampling speed (`report["stats"]`). Returns the MIDI paths, then the WAV paths."""
    if render:
        from symbolic.output.render import render as render_wav  # FluidSynth only when asked

        paths = paths + [
            render_wav(p, p.with_suffix(".wav"), sample_rate=sample_rate) for p in paths
        ]
    (out_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    print(SamplingStats(**report["stats"]).summary())
    return paths
