"""Run directory -> token sequences: the engine under `symbolic.generation.run.LMRun`.

A run directory is self-contained (config.json, meta.json, tokenizer.json, checkpoints/), so
generation needs nothing else. The tokenizer is checked against the hash the model was trained
with, a prompt MIDI is checked against the token grammar before any sampling, and all `num`
samples are drawn in one batch by one compiled `symbolic.generation.sampling.sample` (or
`symbolic.generation.beam.beam_search`), jitted here and cached per model and length.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from symusic import Score

from symbolic import models, tokenization
from symbolic.data import views
from symbolic.data.convert import load_primer
from symbolic.data.meta import DataMeta, encoding_mismatch
from symbolic.generation import beam, constraints, grammar, refill, sampling
from symbolic.generation.processors import ConstraintArrays, GrammarArrays, Masks
from symbolic.generation.settings import Controls, Sampling
from symbolic.training import checkpoint
from symbolic.training.config import RunConfig


@dataclass(frozen=True)
class LoadedRun:
    """What generation needs from a run directory (`symbolic.generation.run.LMRun` adds the
    methods that sample from it)."""

    run_dir: Path
    config: RunConfig
    params: Any
    meta: DataMeta
    tokenizer: Any  # a miditok.MusicTokenizer, loaded through symbolic.tokenization

    @classmethod
    def load(cls, run_dir: str | Path):
        """Config, best parameters, meta and tokenizer of RUN_DIR, as an instance of `cls`.

        Raises:
            ValueError: the tokenizer's hash is not the one the model was trained with.
        """
        run_dir = Path(run_dir)
        config, params, meta = checkpoint.load_run(run_dir)
        tokenizer = tokenization.load_tokenizer(run_dir / checkpoint.TOKENIZER_FILE)
        found, expected = tokenization.tokenizer_hash(tokenizer), meta.tokenizer_hash
        if found != expected:
            raise ValueError(
                f"{run_dir}/{checkpoint.TOKENIZER_FILE} has hash {found[:12]}, but the model was "
                f"trained with tokenizer {str(expected)[:12]}; the run directory is inconsistent"
            )
        check_encoding(run_dir, config, meta, tokenizer)
        return cls(run_dir, config, params, meta, tokenizer)


def check_encoding(run_dir: Path, config: RunConfig, meta: DataMeta, tokenizer) -> None:
    """The run's view, its extra tokens and its vocabulary size agree with its tokenizer and
    model (a prompt is encoded with this tokenizer in this view; a meta.json copied from another
    data folder would give ids the model never saw, or none of the chords it learned).

    Raises:
        ValueError: one line naming RUN_DIR/meta.json and what disagrees.
    """
    expected = dataclasses.replace(
        meta,
        extra_tokens=views.extra_tokens(tokenizer, meta.view),
        vocab_size=len(tokenizer.vocab) + len(views.extra_tokens(tokenizer, meta.view)),
    )
    mismatch = encoding_mismatch(expected, meta)
    model_vocab = getattr(config.model, "vocab_size", None)
    if mismatch is None and model_vocab is not None and model_vocab < meta.vocab_size:
        mismatch = f"the model has {model_vocab} token ids, the data {meta.vocab_size}"
    if mismatch:
        raise ValueError(
            f"{run_dir / checkpoint.META_FILE}: does not match the run's tokenizer and model "
            f"({mismatch}); the run directory is inconsistent"
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


def run_grammar(run: LoadedRun) -> grammar.Grammar:
    """The token automaton of the run's tokenizer and data view: its chord tokens, and none of
    the tokens the view never holds (a piano note in a drums run, ...)."""
    view = run.meta.view
    automaton = grammar.build_grammar(run.tokenizer, views.chord_slots(run.tokenizer, view))
    return grammar.restrict(automaton, views.forbidden_ids(run.tokenizer, view))


def prompt_ids(
    run: LoadedRun, automaton, primer: str | Path | Score | None
) -> tuple[list[int], int]:
    """BOS plus the tokens of `primer` (a MIDI or score file, or a Score) in the run's data view
    (none without one), and the grammar state after them."""
    special = run.meta.special_ids
    if primer is None:
        return [special.bos], automaton.start_state
    where = primer_name(primer)
    try:
        score = primer if isinstance(primer, Score) else load_primer(primer)
        body = views.encode_score(run.tokenizer, run.meta, score)
    except views.NoContent as err:
        raise ValueError(f"{where}: {err}") from None
    except OverflowError as err:  # a note at delta 0x0FFFFFFF: ticks past int32 when resampled
        raise ValueError(f"{where}: its times are too far out to tokenize ({err})") from None
    body = [i for i in body if i not in (special.bos, special.eos, special.pad)]
    if not body:
        raise ValueError(f"{where}: the prompt has no tokens (no notes?)")
    try:
        state = int(grammar.state_after(automaton, body))
    except ValueError as err:
        raise ValueError(f"{where}: the token grammar rejects this prompt ({err})") from None
    return [special.bos, *body], state


def primer_name(primer: str | Path | Score) -> str:
    """How an error names a primer: its file, or that it was a Score."""
    return "the primer Score" if isinstance(primer, Score) else str(primer)


def decoder_fns(model_name: str, model_config) -> tuple[Callable, Callable]:
    """(init_decode_state(params, batch_size), decode_step(params, state, tokens)) of a model
    with its config bound; a learned-position Transformer re-prefills past its window."""
    impl = models.decoder(model_name)
    if refill.needs_refill(model_config):
        return (
            functools.partial(refill.init_decode_state, impl, model_config),
            functools.partial(refill.decode_step, impl, model_config),
        )
    return (
        functools.partial(impl.init_decode_state, model_config),
        functools.partial(impl.decode_step, model_config),
    )


def decode_config(config: RunConfig, length: int):
    """The model config to decode `length` tokens (prompt + new) with.

    Attention reads every slot of the KV cache at every step, so a RoPE (or relative) Transformer
    gets a cache of `length` slots instead of max_len (2.3x faster for 1024 tokens of a 2048-slot
    demo model, batch 16); a longer piece keeps max_len slots, a ring of the last max_len
    positions (the window the model was trained on). Learned positions keep max_len: it sizes
    their table, and past it they re-prefill (`refill`).
    """
    model = config.model
    if getattr(model, "position", None) in ("rope", "relative") and length < model.max_len:
        return dataclasses.replace(model, max_len=length)
    return model


@functools.cache
def jitted_sampler(
    model_name: str,
    model_config,
    max_tokens: int,
    eos_id: int,
    pad_id: int,
    on_token: sampling.TokenTap | None = None,
):
    """`sampling.sample` bound to one model and jitted; cached so that generating again in the
    same process (a notebook, the tests) reuses the compilation. `on_token` taps each step's
    tokens (`symbolic.generation.stream`)."""
    _, step = decoder_fns(model_name, model_config)
    sample = functools.partial(
        sampling.sample,
        step,
        max_new_tokens=max_tokens,
        eos_id=eos_id,
        pad_id=pad_id,
        on_token=on_token,
    )
    return jax.jit(sample)


@functools.cache
def jitted_beam(model_name: str, model_config, max_tokens: int, width: int, eos: int, pad: int):
    """`beam.beam_search` bound to one model and jitted (cached as `jitted_sampler`)."""
    _, step = decoder_fns(model_name, model_config)
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


def allowed_programs(run: LoadedRun, prompt: list[int]) -> tuple[int, ...] | None:
    """The programs new notes may use by default: the training data's (`DataMeta.programs`;
    None, any, for data prepared before they were recorded) and the prompt's own, so that a
    primer or a forced melody on another instrument goes on with it."""
    if run.meta.programs is None:
        return None
    inverse = {i: tok for tok, i in run.tokenizer.vocab.items() if tok.startswith("Program_")}
    given = {int(inverse[i].removeprefix("Program_")) for i in prompt if i in inverse}
    return tuple(sorted(set(run.meta.programs) | given))


def build_masks(
    run: LoadedRun,
    automaton: grammar.Grammar,
    prompt: list[int],
    grammar_state: int,
    controls: Controls,
    rows: int,
    tables: tuple | None = None,
) -> Masks:
    """The grammar, the constraints and the repetition penalty of `controls` for `rows` copies
    of `prompt` (tokens after BOS advance the constraint state), over the model's vocabulary.

    `tables` (constraints.Constraints, state) replaces the constraints of `controls`
    (conditioning and infilling add their own automata).
    """
    spec, vocab_size = controls.spec(allowed_programs(run, prompt)), run.config.model.vocab_size
    if tables is None and spec != constraints.Spec():
        built = constraints.build(run.tokenizer, spec, vocab_size)
        tables = built, built.state_after(prompt[1:])
    masks = {}
    if tables is not None:
        table, state = tables
        masks["constraints"] = ConstraintArrays(
            jnp.asarray(table.allowed),
            jnp.asarray(table.transition),
            jnp.asarray(table.merge_into_eos),
        )
        masks["constraint_states"] = jnp.full((rows,), state, jnp.int32)
    if controls.repetition_penalty != 1.0:
        pitches = np.zeros(vocab_size, bool)
        pitches[run.tokenizer.token_ids_of_type("Pitch")] = True
        masks["repetition_penalty"] = controls.repetition_penalty
        masks["penalty_ids"] = jnp.asarray(pitches)
    automaton = grammar.widen(automaton, vocab_size)  # ids after the tokenizer's
    return Masks(
        grammar=GrammarArrays(
            jnp.asarray(automaton.allowed), jnp.asarray(automaton.transition, jnp.int32)
        ),
        grammar_states=jnp.full((rows,), grammar_state, jnp.int32),
        **masks,
    )


def sample_tokens(
    run: LoadedRun,
    prompt: list[int],
    grammar_state: int,
    automaton: grammar.Grammar,
    settings: Sampling,
    *,
    controls: Controls | None = None,
    tables: tuple | None = None,
    eos_id: int | None = None,
    on_token: sampling.TokenTap | None = None,
) -> tuple[np.ndarray, np.ndarray, SamplingStats]:
    """Sample `settings.num` continuations of `prompt` in one batch (or beam search, see
    `Controls`).

    `tables` replaces the constraints of `controls` (see `build_masks`), and `eos_id` the token
    that ends a row (default: EOS); infilling ends its middle with a sentinel instead.
    `on_token` gets each step's tokens on the host while sampling runs (not with beam search,
    whose beams are only chosen at the end).
    Returns tokens [num, P + max_tokens] int32, lengths [num] int32 (numpy) and timings.
    """
    settings = settings.resolved()
    controls, num, max_tokens = controls or Controls(), settings.num, settings.max_tokens
    model_config = decode_config(run.config, len(prompt) + max_tokens)
    rows = 1 if controls.beam else num  # beam search: one prompt, `beam` rows
    special = run.meta.special_ids
    eos, pad = special.eos if eos_id is None else eos_id, special.pad
    name = run.config.model_name
    if controls.beam and on_token is not None:
        raise ValueError("streaming cannot be combined with beam search (--beam)")
    if controls.beam:
        fn = jitted_beam(name, model_config, max_tokens, controls.beam, eos, pad)
        kwargs = {}
    else:
        fn = jitted_sampler(name, model_config, max_tokens, eos, pad, on_token)
        kwargs = dict(
            rng=jax.random.PRNGKey(settings.seed),
            temperature=settings.temperature,
            top_k=settings.top_k,
            top_p=settings.top_p,
        )
    kwargs["masks"] = build_masks(run, automaton, prompt, grammar_state, controls, rows, tables)
    init_decode_state, _ = decoder_fns(name, model_config)
    args = (
        run.params,
        init_decode_state(run.params, controls.beam or num),
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


def decode_rows(run: LoadedRun, tokens: np.ndarray, lengths: np.ndarray) -> list[Score]:
    """Each row of tokens [num, L] int32 up to its length [num] -> a `symusic.Score` in the
    run's data view (specials dropped; chord tokens become a chord track)."""
    return [
        views.decode(run.tokenizer, run.meta, row[:length])
        for row, length in zip(tokens, lengths, strict=True)
    ]
