"""Count-based baselines on the voice tokens (numpy only), in nats per voice-token.

The protocol that reproduces the figures measured on this split (test: 3.40, 0.99, 0.89):
- the outcome space is the 47 voice tokens (REST and the 46 pitches 36..81), one table shared by
  all four voices (voice identity is not a context);
- unigram: add-one smoothed training frequencies (`symbolic.training.baselines.unigram_nll`),
  every voice token scored;
- bigram: P(x[t, v] | x[t-1, v]), the same voice one 16th step earlier;
- bigram + above: P(x[t, v] | x[t-1, v], x[t, v-1]), adding the voice above at the same step (the
  soprano has none: its context is a fixed "no voice above" value, i.e. it gets the plain bigram);
- both bigrams use add-alpha smoothing with alpha = 0.1 and score every step but each chorale's
  first (which has no previous step): 75,292 of the 75,600 test voice tokens.
"""

from __future__ import annotations

import numpy as np

from benchmarks.chorales_nll.data import REST, VOCAB_SIZE, Grid, voice_tokens
from symbolic.training.baselines import unigram_nll as _unigram_nll

NUM_OUTCOMES = VOCAB_SIZE - REST  # 47: REST and the pitches
ALPHA = 0.1
NO_VOICE = NUM_OUTCOMES  # context value for "no voice above" (the soprano)


def outcomes(grid: Grid) -> np.ndarray:
    """Grid [steps, 4] -> outcome ids [steps, 4] int64 in [0, 47): REST = 0, then pitches."""
    return (voice_tokens(grid) - REST).astype(np.int64)


def unigram_nll(train: list[Grid], evaluate: list[Grid]) -> float:
    """Mean NLL over every voice token of `evaluate` under add-one smoothed train counts."""
    train_ids = np.concatenate([outcomes(g).ravel() for g in train])
    eval_ids = np.concatenate([outcomes(g).ravel() for g in evaluate])
    return _unigram_nll(train_ids, eval_ids, NUM_OUTCOMES)


def bigram_events(grid: Grid, above: bool) -> tuple[np.ndarray, np.ndarray]:
    """(context keys [N] int64, outcomes [N] int64) for steps 1.. of one chorale, all voices."""
    ids = outcomes(grid)  # [steps, 4]
    previous, current = ids[:-1], ids[1:]  # same voice, one step earlier
    keys = previous
    if above:
        upper = np.concatenate([np.full((len(current), 1), NO_VOICE), current[:, :-1]], axis=1)
        keys = previous * (NUM_OUTCOMES + 1) + upper
    return keys.ravel(), current.ravel()


def conditional_nll(
    train_keys: np.ndarray,
    train_x: np.ndarray,
    eval_keys: np.ndarray,
    eval_x: np.ndarray,
    alpha: float = ALPHA,
) -> float:
    """Mean NLL of eval_x [N] given eval_keys [N] under add-alpha smoothed P(x | key) from the
    training events: (count(key, x) + alpha) / (count(key) + alpha * 47)."""
    pair_counts = _lookup(train_keys * NUM_OUTCOMES + train_x, eval_keys * NUM_OUTCOMES + eval_x)
    key_counts = _lookup(train_keys, eval_keys)
    probs = (pair_counts + alpha) / (key_counts + alpha * NUM_OUTCOMES)
    return float(-np.log(probs).mean())


def _lookup(train_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """How often each query [N] occurs among train_values: [N] float64."""
    values, counts = np.unique(train_values, return_counts=True)
    index = np.clip(np.searchsorted(values, queries), 0, len(values) - 1)
    return np.where(values[index] == queries, counts[index], 0).astype(np.float64)


def bigram_nll(
    train: list[Grid], evaluate: list[Grid], above: bool = False, alpha: float = ALPHA
) -> float:
    """Same-voice bigram (optionally with the voice above) NLL over `evaluate`, nats/voice-token."""

    def events(grids: list[Grid]) -> tuple[np.ndarray, np.ndarray]:
        pairs = [bigram_events(g, above) for g in grids]
        return np.concatenate([k for k, _ in pairs]), np.concatenate([x for _, x in pairs])

    return conditional_nll(*events(train), *events(evaluate), alpha=alpha)


def baselines(grids: dict[str, list[Grid]]) -> dict[str, float]:
    """{split}_nll_{unigram, bigram, bigram_above} for valid and test, trained on train."""
    results = {}
    for split in ("valid", "test"):
        train, evaluate = grids["train"], grids[split]
        results[f"{split}_nll_unigram"] = unigram_nll(train, evaluate)
        results[f"{split}_nll_bigram"] = bigram_nll(train, evaluate)
        results[f"{split}_nll_bigram_above"] = bigram_nll(train, evaluate, above=True)
    return results
