"""What the infill benchmark measures on held-out chorales, given a FIM run.

* `draw_spans`: one span of N whole bars per held-out piece, at a seeded bar, with at least one
  bar before it and one after it (a middle with nothing to land on says nothing here).
* `middle_nll`: the real middle teacher-forced through the run in the order generation uses
  (`symbolic.generation.infill.model_prompt`): with the suffix, with an empty suffix (the same
  SPM layout, ``[FIM_SUFFIX] [FIM_PREFIX] prefix middle``, and the same prefix tokens), and as a
  plain continuation of the prefix without sentinels. Nats per middle token (FIM_END excluded),
  over the whole middle and over its last bar alone (the bar that must lead into the suffix).
* `suffix_information`: how much the visible suffix can tell about the middle at most, as the
  run's own language model sees the music (a ceiling on the suffix gain).
* `smooth_rates`: how often a middle's last notes lead into the suffix's first notes by a step
  of at most a fifth in every voice, for the real middles and for middles the run samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symbolic.data import fim, views
from symbolic.data.batches import load_split
from symbolic.generation import infill
from symbolic.generation.settings import Controls, Sampling

MAX_STEP = 7  # semitones: a fifth
HELD_OUT = ("valid", "test")


@dataclass(frozen=True)
class Span:
    """A span of a held-out piece: its tokens cut around bars first..last (1-based)."""

    piece: str  # "valid/3"
    bars: tuple[int, int]
    split: infill.BarSplit


def held_out_pieces(data_dir) -> dict[str, list[int]]:
    """{"valid/0": body, ...}: each held-out piece's ids without BOS and EOS."""
    pieces = {}
    for name in HELD_OUT:
        split = load_split(data_dir, name)
        for k, (a, b) in enumerate(zip(split.offsets[:-1], split.offsets[1:], strict=True)):
            pieces[f"{name}/{k}"] = [int(i) for i in split.tokens[a + 1 : b - 1]]
    return pieces


def draw_spans(pieces: dict[str, list[int]], bar_id: int, bars: int, seed: int) -> list[Span]:
    """One span of `bars` bars per piece long enough to keep a bar on each side; its first
    bar drawn uniformly from a generator seeded by (seed, bars)."""
    rng = np.random.default_rng([seed, bars])
    spans = []
    for name, body in pieces.items():
        count = body.count(bar_id)
        if count < bars + 2:
            continue
        first = int(rng.integers(2, count - bars + 1))  # bars 2 .. count - bars, 1-based
        span = (first, first + bars - 1)
        spans.append(Span(name, span, infill.split_bars(body, bar_id, span, name)))
    return spans


def _prompts(run, span: Span, ids: fim.FimTokens) -> dict[str, list[int]]:
    """The three contexts of one middle, sharing the prefix tokens generation would keep."""
    bos = run.meta.special_ids.bos
    budget = infill.context_budget(run.config.train.seq_len, span.split)
    spm = infill.model_prompt(span.split, ids, bos, budget)
    prefix = spm[spm.index(ids.prefix) + 1 :]
    return {
        "with_suffix": spm,
        "without_suffix": [ids.suffix, ids.prefix, *prefix],
        "plain": prefix,
    }


def _forward(run):
    import jax

    from symbolic import models

    model = models.build(run.config.model_name, run.config.model)
    return jax.jit(lambda params, x: jax.nn.log_softmax(model.apply({"params": params}, x)))


def _target_log_probs(log_probs, params, rows: list[tuple[list[int], list[int]]], pad: int):
    """Each (context, target) row's log-probabilities of its target tokens given what precedes
    them, [len(target)] each; the rows run as one batch padded to a multiple of 64 tokens, so
    that few shapes compile."""
    longest = -(-max(len(c) + len(t) for c, t in rows) // 64) * 64
    x = np.full((len(rows), longest), pad, np.int32)
    for r, (context, target) in enumerate(rows):
        x[r, : len(context) + len(target)] = [*context, *target]
    lp = np.asarray(log_probs(params, x))
    return [lp[r, np.arange(len(c) - 1, len(c) + len(t) - 1), t] for r, (c, t) in enumerate(rows)]


def middle_nll(run, spans: list[Span], ids: fim.FimTokens, batch: int = 16) -> dict[str, float]:
    """Nats per real middle token for each context of `_prompts`, over all `spans`: the whole
    middle as "CONTEXT", and its last bar (from its last Bar token) as "CONTEXT_last_bar"."""
    log_probs = _forward(run)
    pad = run.meta.special_ids.pad
    totals = {}
    for context in ("with_suffix", "without_suffix", "plain"):
        rows = []
        for span in spans:
            prompt = _prompts(run, span, ids)[context]
            rows.append((prompt, span.split.middle))
        token_nll = []
        for at in range(0, len(rows), batch):
            chunk = _target_log_probs(log_probs, run.params, rows[at : at + batch], pad)
            token_nll.extend(-lp for lp in chunk)
        last_bars = [
            nll[len(s.split.middle) - 1 - s.split.middle[::-1].index(ids.bar) :]
            for nll, s in zip(token_nll, spans, strict=True)
        ]
        totals[context] = float(np.concatenate(token_nll).mean())
        totals[f"{context}_last_bar"] = float(np.concatenate(last_bars).mean())
    return totals


def _edge_pitches(score, start: int, stop: int) -> dict[int, tuple[int, int]]:
    """{program: (last pitch with onset in [start, stop), first pitch with onset >= stop)}
    for each voice with notes on both sides (the lowest at a shared onset, for a chord)."""
    edges = {}
    for track in score.tracks:
        n = track.notes.numpy()
        inside = np.flatnonzero((n["time"] >= start) & (n["time"] < stop))
        after = np.flatnonzero(n["time"] >= stop)
        if not inside.size or not after.size:
            continue
        last = inside[n["time"][inside] == n["time"][inside].max()]
        first = after[n["time"][after] == n["time"][after].min()]
        edges[track.program] = (int(n["pitch"][last].min()), int(n["pitch"][first].min()))
    return edges


def leads_smoothly(run, split: infill.BarSplit, middle: list[int]) -> bool | None:
    """Every voice steps by at most a fifth from the middle's last note into the suffix's first;
    None when no voice sounds on both sides."""
    score = views.decode(run.tokenizer, run.meta, [*split.prefix, *middle, *split.suffix])
    vocab, tpq = dict(run.tokenizer.vocab), score.ticks_per_quarter
    start = infill.bar_ticks(vocab, split.bars_before, tpq)
    stop = start + infill.bar_ticks(vocab, split.signatures, tpq)
    edges = _edge_pitches(score, start, stop)
    if not edges:
        return None
    return all(abs(a - b) <= MAX_STEP for a, b in edges.values())


def _rate(flags: list[bool | None]) -> float | None:
    known = [f for f in flags if f is not None]
    return float(np.mean(known)) if known else None


def smooth_rates(
    run, spans: list[Span], ids: fim.FimTokens, generate: int, samples: int, seed: int
) -> dict[str, float | int | None]:
    """The smooth-landing rate of the real middles of all `spans`, and of `samples` sampled
    middles (temperature 1, top-p 0.95, as the demo samples) for each of the first `generate`
    spans; also how many sampled middles completed their span."""
    real = [leads_smoothly(run, s.split, s.split.middle) for s in spans]
    generated, completed, compile_s = [], 0, 0.0
    for k, span in enumerate(spans[:generate]):
        settings = Sampling(
            num=samples, max_tokens=2 * len(span.split.middle) + 64, top_p=0.95, seed=seed + k
        )
        middles, stats = infill.sample_middles(run, span.split, ids, Controls(), settings)
        compile_s += stats.compile_s
        for middle in middles:
            if middle is not None:
                completed += 1
                generated.append(leads_smoothly(run, span.split, middle))
    return {
        "smooth_real": _rate(real),
        "smooth_generated": _rate(generated),
        "generated_middles": completed,
        "generated_attempts": samples * min(generate, len(spans)),
        "generated_compile_s": compile_s,
    }


def _plain_middles(run, automaton, span: Span, prefix: list[int], bar: int, samples: int, seed):
    """Up to `samples` middles of the span's bar count that the run, as a plain language model
    under its token `automaton`, continues `prefix` with (each cut before the Bar after its
    last bar)."""
    from symbolic.generation import engine, grammar

    n = len(span.split.signatures)
    settings = Sampling(num=samples, max_tokens=2 * len(span.split.middle) + 64, seed=seed)
    state = grammar.state_after(automaton, span.split.prefix)
    tokens, lengths, _ = engine.sample_tokens(run, prefix, state, automaton, settings)
    middles = []
    for row, length in zip(tokens, lengths, strict=True):
        new = [int(i) for i in row[len(prefix) : length]]
        bars = [k for k, token in enumerate(new) if token == bar]
        if len(bars) > n and bars[0] == 0:
            middles.append(new[: bars[n]])
    return middles


def suffix_information(run, spans: list[Span], ids: fim.FimTokens, samples: int, seed: int):
    """How much the visible suffix can tell about the middle, as the run's own language model
    sees the piece: I(middle; suffix | prefix) = log p(suffix | prefix, middle) - log p(suffix |
    prefix), with p(suffix | prefix) averaged over `samples` middles of the span's bar count
    that the run samples from the prefix (plain order, temperature 1). A finite average
    overestimates the information on average (Jensen), so it is a ceiling on the suffix gain
    this model and context allow; counting the real middle among the samples gives a floor
    (InfoNCE, at most log(samples + 1) nats).

    Returns nats per span, both ways, and each as a fraction of the middle's plain-continuation
    NLL (the ceiling and floor of `1 - with / empty`).
    """
    from symbolic.generation import engine

    log_probs, pad = _forward(run), run.meta.special_ids.pad
    automaton = engine.run_grammar(run)
    ceiling, floor, middle_nats = [], [], []
    for k, span in enumerate(spans):
        prompts = _prompts(run, span, ids)
        prefix, spm = prompts["plain"], prompts["with_suffix"]
        suffix = spm[1 : spm.index(ids.prefix)]
        middles = _plain_middles(run, automaton, span, prefix, ids.bar, samples, seed + k)
        if not middles:
            continue
        real = span.split.middle
        rows = [([*prefix, *m], suffix) for m in [real, *middles]]
        scored = _target_log_probs(log_probs, run.params, [*rows, (prefix, real)], pad)
        *lp, real_lp = [float(row.sum()) for row in scored]
        ceiling.append(lp[0] - (np.logaddexp.reduce(lp[1:]) - np.log(len(middles))))
        floor.append(lp[0] - (np.logaddexp.reduce(lp) - np.log(len(lp))))
        middle_nats.append(-real_lp)
    total = float(np.sum(middle_nats))
    return {
        "suffix_info_spans": len(ceiling),
        "suffix_info_ceiling_nats": float(np.mean(ceiling)),
        "suffix_info_floor_nats": float(np.mean(floor)),
        "suffix_gain_ceiling": float(np.sum(ceiling)) / total,
        "suffix_gain_floor": float(np.sum(floor)) / total,
    }
