"""The pieces each source contributes, as `symbolic.music.metrics.Notes`.

* real: held-out chorales (valid and test works of the manifest), converted as `symbolic prepare`
  converts them (`load_work`: music21 -> MIDI, one track per voice, through the same cache);
* transformer / lstm: trained runs sampled as `symbolic generate` samples (`LMRun.draw`:
  KV cache or LSTM state, grammar mask), from BOS, then decoded by the run's tokenizer;
  transformer_top_p: the Transformer again with top-p 0.95 (the demo's setting);
* ngram: a count-based bigram LM over the training token stream, P(next | previous token) with
  add-alpha smoothing, sampled by the same `symbolic.generation.sampling.sample` under the same
  grammar mask;
* random_tokens: uniformly random tokens among those the grammar allows at each step, same
  sampler;
* random: uniform random notes, one piece per real piece (cycling): as many notes as it has and
  its length and time signatures; each note's pitch uniform over the real set's pitch range,
  onset uniform on the 16th-note grid, duration uniform from one 16th to a half note, cut at
  the piece's end;
* vae_prior: melodies `symbolic vae sample` draws (z ~ N(0, I), greedy decoding), against
  real_soprano_2bar: held-out 2-bar soprano segments of the VAE's data, through the same
  events -> Score conversion;
* gan: phrases `symbolic gan sample` draws, against real_satb_4bar: held-out 4-bar SATB phrases
  of the GAN's data, through the same piano roll -> Score conversion (the roll alone: repeated
  notes merge in real phrases as in generated ones).
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from symbolic import tokenization
from symbolic.data import phrases as ph
from symbolic.data import segments as seg
from symbolic.data.manifest import load_manifest, source_root
from symbolic.data.meta import load_meta
from symbolic.data.phrase_sets import grid_of, load_phrases
from symbolic.data.prepare import default_cache_dir, load_work
from symbolic.generation import grammar, sampling
from symbolic.generation.processors import GrammarArrays, Masks
from symbolic.generation.run import load_lm_run
from symbolic.generation.settings import Sampling
from symbolic.music.metrics import Notes, notes_from_score

HELD_OUT_SPLITS = ("valid", "test")
NGRAM_ALPHA = 0.01
RANDOM_MAX_SIXTEENTHS = 8  # random note durations: 1..8 sixteenths (a 16th to a half note)


def real_pieces(
    manifest: Path, limit: int | None = None, splits: tuple[str, ...] = HELD_OUT_SPLITS
) -> list[Notes]:
    """The manifest's works of `splits` (the first `limit`), in manifest order."""
    loaded = load_manifest(manifest)
    root = source_root(loaded)
    works = [w for w in loaded.works if w.split in splits][:limit]
    return [notes_from_score(load_work(w, root, default_cache_dir())) for w in works]


def held_out_median_tokens(data_dir: Path) -> int:
    """Median length in tokens (BOS and EOS excluded) of DATA_DIR's valid and test sequences."""
    lengths = [np.diff(np.load(data_dir / f"{s}_offsets.npy")) - 2 for s in HELD_OUT_SPLITS]
    return int(np.median(np.concatenate(lengths)))


def run_pieces(
    run_dir: Path,
    *,
    num: int,
    max_tokens: int,
    seed: int,
    top_p: float = 1.0,
    temperature: float = 1.0,
) -> list[Notes]:
    """`num` pieces sampled from RUN_DIR's best checkpoint from BOS (no top-k; temperature 1 and
    top-p 1, i.e. off, are `symbolic generate`'s defaults), up to `max_tokens` new tokens each."""
    run = load_lm_run(run_dir)  # sampled under the run's view: chord tokens, forbidden ids
    settings = Sampling(
        num=num, max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed
    )
    drawn = run.draw(settings)
    print(f"  {run_dir}: {drawn.stats.summary()}")
    return _decode(run.tokenizer, drawn.tokens, drawn.lengths)


def _decode(tokenizer, tokens: np.ndarray, lengths: np.ndarray) -> list[Notes]:
    """Rows of tokens [num, L] (up to their lengths) -> pieces."""
    return [
        notes_from_score(tokenization.decode(tokenizer, row[:length]))
        for row, length in zip(tokens, lengths, strict=True)
    ]


def bigram_log_probs(stream: np.ndarray, vocab_size: int, alpha: float = NGRAM_ALPHA) -> np.ndarray:
    """log P(next | previous) from a token stream [T]: add-alpha smoothed counts of every
    neighbouring pair, ``[vocab, vocab] float32`` (row: previous token)."""
    stream = np.asarray(stream, np.int64)
    pairs = np.bincount(stream[:-1] * vocab_size + stream[1:], minlength=vocab_size * vocab_size)
    counts = pairs.reshape(vocab_size, vocab_size).astype(np.float64) + alpha
    return np.log(counts / counts.sum(axis=1, keepdims=True)).astype(np.float32)


def _bigram_step(table: jax.Array, state, tokens: jax.Array):
    """`sampling.DecodeStepFn` of a bigram LM: the logits [B, V] are the table's rows."""
    return table[tokens], state


def _uniform_step(vocab_size: int, _params, state, tokens: jax.Array):
    """`sampling.DecodeStepFn` giving every token the same logit: uniform over what is allowed."""
    return jnp.zeros((tokens.shape[0], vocab_size), jnp.float32), state


def sample_step_fn(
    step_fn, params, tokenizer, *, num: int, max_tokens: int, seed: int
) -> list[Notes]:
    """`num` pieces from BOS under the tokenizer's grammar with `sampling.sample` (temperature 1)
    driven by a stateless decode step `step_fn(params, state, tokens [B]) -> (logits, state)`."""
    automaton = grammar.build_grammar(tokenizer)
    special = tokenization.special_ids(tokenizer)
    sample = functools.partial(
        sampling.sample,
        step_fn,
        max_new_tokens=max_tokens,
        eos_id=special["eos"],
        pad_id=special["pad"],
    )
    out = jax.jit(sample)(
        params,
        (),
        jnp.full((num, 1), special["bos"], jnp.int32),
        rng=jax.random.PRNGKey(seed),
        masks=Masks(
            grammar=GrammarArrays(
                jnp.asarray(automaton.allowed), jnp.asarray(automaton.transition, jnp.int32)
            ),
            grammar_states=jnp.full((num,), automaton.start_state, jnp.int32),
        ),
    )
    return _decode(tokenizer, np.asarray(out.tokens), np.asarray(out.lengths))


def ngram_pieces(data_dir: Path, *, num: int, max_tokens: int, seed: int) -> list[Notes]:
    """Pieces from the bigram LM of DATA_DIR's training stream (see `bigram_log_probs`)."""
    tokenizer = tokenization.load_tokenizer(data_dir / "tokenizer.json")
    table = bigram_log_probs(np.load(data_dir / "train.npy"), load_meta(data_dir).vocab_size)
    return sample_step_fn(
        _bigram_step, jnp.asarray(table), tokenizer, num=num, max_tokens=max_tokens, seed=seed
    )


def random_token_pieces(data_dir: Path, *, num: int, max_tokens: int, seed: int) -> list[Notes]:
    """Pieces of uniformly random grammar-allowed tokens, with DATA_DIR's tokenizer."""
    tokenizer = tokenization.load_tokenizer(data_dir / "tokenizer.json")
    step = functools.partial(_uniform_step, len(tokenizer.vocab))
    return sample_step_fn(step, (), tokenizer, num=num, max_tokens=max_tokens, seed=seed)


def random_notes(like: Notes, low: int, high: int, rng: np.random.Generator) -> Notes:
    """Uniform random notes shaped like one piece: its note count, length (rounded up to a 16th)
    and time signatures; pitches uniform in [low, high], onsets uniform on the 16th grid,
    durations 1..8 sixteenths, cut at the piece's end."""
    sixteenth = like.ticks_per_quarter // 4
    steps = max(1, -(-like.last_end // sixteenth))
    count = like.pitch.size
    start = rng.integers(0, steps, count) * sixteenth
    duration = rng.integers(1, RANDOM_MAX_SIXTEENTHS + 1, count) * sixteenth
    end = np.minimum(start + duration, steps * sixteenth)
    pitch = rng.integers(low, high + 1, count)
    return Notes(start, end, pitch, like.ticks_per_quarter, like.time_signatures)


def random_note_pieces(real: list[Notes], *, num: int, seed: int) -> list[Notes]:
    """`num` random-note pieces, the i-th shaped like real piece i (cycling)."""
    rng = np.random.default_rng(seed)
    low = min(int(p.pitch.min()) for p in real if p.pitch.size)
    high = max(int(p.pitch.max()) for p in real if p.pitch.size)
    return [random_notes(real[i % len(real)], low, high, rng) for i in range(num)]


def _subset(count: int, limit: int, seed: int) -> np.ndarray:
    """Sorted seeded choice of min(limit, count) of range(count)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, size=min(limit, count), replace=False))


def real_segment_pieces(segments_dir: Path, *, limit: int, seed: int) -> list[Notes]:
    """`limit` held-out melody segments (seeded) of a `symbolic vae prepare` folder, as pieces."""
    rows = np.concatenate([seg.load_segments(segments_dir, s)["segments"] for s in HELD_OUT_SPLITS])
    return [notes_from_score(seg.events_to_score(r)) for r in rows[_subset(len(rows), limit, seed)]]


def vae_prior_pieces(run_dir: Path, *, num: int, seed: int) -> list[Notes]:
    """`num` melodies from the VAE's prior, as `symbolic vae sample` draws them (greedy)."""
    from symbolic.vae.run import load_vae

    return [notes_from_score(score) for score in load_vae(run_dir).sample(num, seed=seed)]


def real_phrase_pieces(phrases_dir: Path, *, limit: int, seed: int) -> list[Notes]:
    """`limit` held-out phrases (seeded, untransposed) of a `symbolic gan prepare` folder, as
    pieces, converted from the roll alone as GAN samples are."""
    meta = load_meta(phrases_dir)
    rolls = np.concatenate(
        [load_phrases(phrases_dir, s, untransposed=True)["pianoroll"] for s in HELD_OUT_SPLITS]
    )
    grid = grid_of(meta)
    return [
        notes_from_score(ph.phrase_score(roll, grid, meta.tracks, meta.programs))
        for roll in rolls[_subset(len(rolls), limit, seed)]
    ]


def gan_pieces(run_dir: Path, *, num: int, seed: int) -> list[Notes]:
    """`num` phrases from scratch, as `symbolic gan sample` draws them (threshold 0.5)."""
    from symbolic.gan.run import load_gan

    return [notes_from_score(score) for score in load_gan(run_dir).sample(num, seed=seed)]
