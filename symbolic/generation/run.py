"""A trained Transformer or LSTM run as one object: load it once, then sample, continue or infill.

    run = load_lm_run("demo/run")
    scores = run.sample(num=4, max_tokens=255, top_p=0.95, seed=0)   # -> list[symusic.Score]
    more = run.continue_from("primer.mid", max_tokens=128)
    fills = run.infill("piece.mid", "5-8")                           # a run trained with FIM

Every method takes a `Sampling` record, or its fields as keywords (or both: the keywords replace
the record's fields), and returns decoded `symusic.Score`s; `symbolic.generation.generate`
writes them as files. The same seed and settings give the same tokens as `symbolic generate`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from symusic import Score

from symbolic.generation import conditioning, engine, grammar
from symbolic.generation import infill as infill_lib
from symbolic.generation.conditioning import Condition
from symbolic.generation.engine import LoadedRun, SamplingStats
from symbolic.generation.sampling import TokenTap
from symbolic.generation.settings import Controls, Sampling, sampling_of


@dataclass(frozen=True)
class Generated:
    """One batched sampling call: the pieces and what its report records."""

    scores: list[Score]  # decoded in the run's view; a condition's exact tempo applied
    tokens: np.ndarray  # [num, P + max_tokens] int32: prompt, continuation, EOS, then pad
    lengths: np.ndarray  # [num] int32
    stats: SamplingStats
    settings: Sampling  # as drawn: a condition raises max_tokens to what its tokens take


class LMRun(LoadedRun):
    """A loaded Transformer or LSTM run: `.config`, `.meta`, `.params`, `.tokenizer`, and the
    methods that generate from it. Build it with `load_lm_run`."""

    def sample(
        self,
        sampling: Sampling | None = None,
        *,
        controls: Controls | None = None,
        condition: Condition | None = None,
        **settings,
    ) -> list[Score]:
        """`num` new pieces from BOS (or from a condition: chords, a melody, a tempo or a time
        signature, `symbolic.generation.conditioning`), under the token grammar and `controls`.

        settings: fields of `Sampling` (num, max_tokens, temperature, top_k, top_p, seed).
        """
        drawn = self.draw(sampling_of(sampling, settings), controls=controls, condition=condition)
        return drawn.scores

    def continue_from(
        self,
        primer: str | Path | Score,
        sampling: Sampling | None = None,
        *,
        controls: Controls | None = None,
        **settings,
    ) -> list[Score]:
        """`num` continuations of `primer` (a MIDI or score file, or a Score): each piece is the
        primer's tokens followed by up to `max_tokens` new ones."""
        return self.draw(sampling_of(sampling, settings), primer=primer, controls=controls).scores

    def infill(
        self,
        primer: str | Path | Score,
        bars: str | tuple[int, int],
        sampling: Sampling | None = None,
        *,
        controls: Controls | None = None,
        **settings,
    ) -> list[Score]:
        """`num` versions of `primer` with `bars` ("5-8" or (5, 8), 1-based, inclusive)
        regenerated and every other bar kept (a run trained with `train.fim_rate > 0`; see
        `symbolic.generation.infill`). Pieces that did not complete the span are left out."""
        drawn = infill_lib.infill(self, primer, bars, sampling_of(sampling, settings), controls)
        return drawn.scores

    def draw(
        self,
        settings: Sampling,
        *,
        primer: str | Path | Score | None = None,
        controls: Controls | None = None,
        condition: Condition | None = None,
        on_token: TokenTap | None = None,
    ) -> Generated:
        """What `sample` and `continue_from` return, with the tokens, lengths and timings;
        `on_token` sees each step's tokens while they are drawn (`symbolic.generation.stream`).

        Raises:
            ValueError: a primer with a condition, a primer the grammar rejects, a condition the
                run was not trained for.
        """
        controls, condition = controls or Controls(), condition or Condition()
        settings = settings.resolved()  # the record says how many tokens were allowed
        automaton = engine.run_grammar(self)
        plan, tables = None, None
        if condition.is_empty:
            prompt, state = engine.prompt_ids(self, automaton, primer)
        else:
            if primer is not None:
                raise ValueError(
                    "--prompt cannot be combined with a condition (chords, melody, ...)"
                )
            plan = conditioning.plan(self.tokenizer, self.meta, condition, str(self.run_dir))
            prompt, state = plan.prompt, grammar.state_after(automaton, plan.prompt[1:])
            vocab_size = self.config.model.vocab_size
            spec = controls.spec(engine.allowed_programs(self, plan.prompt))
            tables = conditioning.tables(self.tokenizer, spec, plan, vocab_size)
            max_tokens = max(settings.max_tokens, plan.needed_tokens)
            settings = dataclasses.replace(settings, max_tokens=max_tokens)
        tokens, lengths, stats = engine.sample_tokens(
            self,
            prompt,
            state,
            automaton,
            settings,
            controls=controls,
            tables=tables,
            on_token=on_token,
        )
        scores = engine.decode_rows(self, tokens, lengths)
        if plan is not None and plan.tempo:
            for score in scores:
                conditioning.set_tempo(score, plan.tempo)
        return Generated(scores, tokens, lengths, stats, settings)


def load_lm_run(run_dir: str | Path) -> LMRun:
    """The Transformer or LSTM run in RUN_DIR (its best checkpoint).

    Raises:
        FileNotFoundError: not a run directory, or no checkpoint in it.
        ValueError: its tokenizer is not the one the model was trained with.
    """
    return LMRun.load(run_dir)
