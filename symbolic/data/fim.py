"""Fill-in-the-middle (FIM) training windows cut at bar boundaries: numpy only, no jax.

A language model learns to infill when some of its training windows are reordered so that the
part to fill comes last (Bavarian et al. 2022, "Efficient Training of Language Models to Fill in
the Middle"). We use their SPM order, with three sentinel ids appended after the data set's
vocabulary (`sentinel_ids`):

    [FIM_SUFFIX] suffix [FIM_PREFIX] prefix middle [FIM_END]

The middle directly continues the prefix, so the token grammar state at its start is the state
after the prefix, and a decoder carries one cache (or LSTM state) straight from the prompt into
the middle. The cuts fall on bars: the middle starts at a ``Bar`` token and ends before a later
``Bar`` or at the ``EOS`` of the same piece, so it holds whole bars and never crosses pieces.
``symbolic.generation.infill`` builds the same order from a MIDI file at generation time.

Which windows are reordered, and where they are cut, is drawn from a generator seeded by
(seed, step), like the windows themselves: a resumed run sees the same batches. A rate of 0
leaves every batch untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symbolic.data.batches import Batch
from symbolic.data.meta import DataMeta, Meta

# Names of the sentinels in a run's meta.special_ids, in id order after the vocabulary.
SENTINELS = ("fim_suffix", "fim_prefix", "fim_end")
_STREAM = 1  # a seed word of its own, so that FIM draws never shift the window draws


@dataclass(frozen=True)
class FimTokens:
    """The sentinel ids and the structural ids the cuts need."""

    suffix: int
    prefix: int
    end: int
    bar: int  # REMI's Bar_None: a middle starts here
    eos: int  # ends a piece: a middle may end here, never cross it

    @classmethod
    def for_vocab(cls, vocab_size: int, bar: int, eos: int) -> FimTokens:
        ids = sentinel_ids(vocab_size)
        return cls(ids["fim_suffix"], ids["fim_prefix"], ids["fim_end"], bar, eos)


def sentinel_ids(vocab_size: int) -> dict[str, int]:
    """``{"fim_suffix": V, "fim_prefix": V + 1, "fim_end": V + 2}`` for a data vocabulary of V."""
    return {name: vocab_size + k for k, name in enumerate(SENTINELS)}


def extra_vocab(fim_rate: float) -> int:
    """Ids the model needs beyond the data's vocabulary: the sentinels when FIM is on."""
    return len(SENTINELS) if fim_rate > 0 else 0


def run_meta(meta: Meta, fim_rate: float) -> Meta:
    """A data set's meta with the sentinel ids added to its special ids when FIM is on (what
    a run directory records, so that generation finds them)."""
    if fim_rate <= 0:
        return meta
    if not isinstance(meta, DataMeta):
        raise ValueError("train.fim_rate needs token data from `symbolic prepare`, not segments")
    return meta.with_special_ids(**sentinel_ids(meta.vocab_size))


# How `choose_span` draws a middle's length: "stop" draws a start bar, then a stop among the
# later bars (mostly single bars in a short window); "bars" draws the bar count first, uniformly
# over the counts the window holds, so that longer middles are as common as users ask for them.
SPAN_DRAWS = ("stop", "bars")


def choose_span(
    window: np.ndarray, tokens: FimTokens, rng: np.random.Generator, draw: str = "stop"
):
    """A middle ``(start, stop)`` of whole bars in window [L] int32, or None without a Bar.

    The candidate stops of a start are the later Bar positions and the first EOS of the same
    piece. draw="stop": start uniform among the Bars with a stop, then a stop uniform among its
    candidates. draw="bars": a bar count uniform in 1..the most any start allows, then a start
    uniform among those that allow it.
    """
    is_bar = window == tokens.bar
    eos = np.flatnonzero(window == tokens.eos)
    candidates = []
    for start in np.flatnonzero(is_bar):
        after = eos[eos > start]
        limit = after[0] if after.size else len(window) - 1
        stops = start + 1 + np.flatnonzero(is_bar[start + 1 : limit + 1])
        if after.size:
            stops = np.append(stops, limit)
        if stops.size:
            candidates.append((start, stops))
    if not candidates:
        return None
    if draw == "bars":
        bars = 1 + int(rng.integers(max(len(stops) for _, stops in candidates)))
        allowing = [(start, stops) for start, stops in candidates if len(stops) >= bars]
        start, stops = allowing[rng.integers(len(allowing))]
        return int(start), int(stops[bars - 1])
    start, stops = candidates[rng.integers(len(candidates))]
    return int(start), int(stops[rng.integers(len(stops))])


def fim_order(window: np.ndarray, start: int, stop: int, tokens: FimTokens) -> np.ndarray:
    """window [L] -> [L + 3]: [FIM_SUFFIX] suffix [FIM_PREFIX] prefix middle [FIM_END], where
    middle = window[start:stop], prefix = window[:start] and suffix = window[stop:]."""
    return np.concatenate(
        [
            [tokens.suffix],
            window[stop:],
            [tokens.prefix],
            window[:start],
            window[start:stop],
            [tokens.end],
        ]
    ).astype(window.dtype)


def fim_batch(
    batch: Batch, tokens: FimTokens, rate: float, seed: int, step: int, draw: str = "stop"
) -> Batch:
    """Reorder about `rate` of the training windows of `batch` into FIM order.

    batch: {inputs, targets [B, T] int32, mask [B, T] float32} of windows [B, T + 1]. A chosen
    window drops its last 3 tokens to make room for the sentinels, so it is a permutation of
    its first T - 2 tokens plus the 3 sentinels; a window without a Bar stays as it is. `draw`
    is `choose_span`'s. Deterministic in (seed, step); rate <= 0 returns `batch` itself.
    """
    if rate <= 0:
        return batch
    windows = np.concatenate([batch["inputs"], batch["targets"][:, -1:]], axis=1)
    rng = np.random.default_rng([seed, step, _STREAM])
    out = windows.copy()
    for row in np.flatnonzero(rng.random(len(windows)) < rate):
        kept = windows[row, : -len(SENTINELS)]
        span = choose_span(kept, tokens, rng, draw)
        if span is not None:
            out[row] = fim_order(kept, *span, tokens)
    return {**batch, "inputs": out[:, :-1], "targets": out[:, 1:]}
