"""The two records every generation call takes: `Sampling` (how to draw) and `Controls` (what to
constrain). Both are frozen and checked where they are built, so a bad setting is a one-line
error before any model is loaded. Numpy only: `symbolic.Sampling` does not import jax.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from symbolic.generation import constraints
from symbolic.music import keys

# jax.random.PRNGKey takes a C long: a larger seed is an OverflowError. The same bound as
# symbolic.models.checks.MAX_SEED (the training seed's), which these jax-free records cannot
# import: importing symbolic.models loads flax.
MAX_SEED = 2**63 - 1
# New tokens per piece when none are asked for: a piece runs until EOS (or the end of the asked
# bars), and this cap only stops a model that never says EOS: about seven Bach chorales of the
# median length in REMI tokens (1,179).
DEFAULT_MAX_TOKENS = 8192


@dataclass(frozen=True)
class Sampling:
    """How to draw `num` pieces of up to `max_tokens` new tokens each, in one batch.

    max_tokens None (the default) draws until EOS, at most DEFAULT_MAX_TOKENS new tokens
    (`resolved`); every model takes any length. temperature 0 is greedy; top_k 0 and top_p 1
    disable those filters. The same seed and settings draw the same tokens.
    """

    num: int = 4
    max_tokens: int | None = None
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num < 1 or (self.max_tokens is not None and self.max_tokens < 1):
            raise ValueError(f"num and max_tokens must be >= 1 (got {self.num}, {self.max_tokens})")
        # NaN compares false both ways, so it would otherwise pass as a temperature and be greedy.
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise ValueError(
                f"temperature must be finite and >= 0 (0 is greedy), got {self.temperature}"
            )
        if not self.top_k >= 0:
            raise ValueError(f"top_k must be >= 0 (0 keeps every token), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0 <= self.seed <= MAX_SEED:  # jax takes a C long: a huge seed overflows
            raise ValueError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")

    def resolved(self) -> Sampling:
        """This record with max_tokens None ("until EOS") made DEFAULT_MAX_TOKENS."""
        if self.max_tokens is None:
            return dataclasses.replace(self, max_tokens=DEFAULT_MAX_TOKENS)
        return self


def sampling_of(sampling: Sampling | None, settings: dict) -> Sampling:
    """`sampling` (default `Sampling()`) with the fields named in `settings` replaced and checked
    again: how the run methods and `generate` take a record or keyword settings (a name that is
    not a field is a TypeError)."""
    return dataclasses.replace(sampling or Sampling(), **settings)


@dataclass(frozen=True)
class Controls:
    """Controllable generation: hard constraints (masks at every step), a repetition penalty and
    beam search. The defaults change nothing.

    Raises:
        ValueError: an unknown key or grid, a bad pitch range, or a count below 1.
    """

    key: str | None = None  # "D minor": only Pitch tokens in the scale; also the key signature
    pitch_range: str | None = None  # "60-84", inclusive MIDI pitches
    monophonic: bool = False  # at most one note per onset (max_polyphony=1)
    max_polyphony: int | None = None  # at most this many notes per onset
    grid: str | None = None  # "8th": onsets only on this grid (see constraints.GRIDS)
    bars: int | None = None  # stop after this many new bars (the next Bar becomes EOS)
    repetition_penalty: float = 1.0  # on Pitch tokens already in the piece; 1.0 is off
    beam: int = 0  # beam width; 0 samples, >= 1 runs beam search (temperature ignored)
    # "0,33": the GM programs notes may use; None: those of the training data; "all": any.
    programs: str | None = None

    def __post_init__(self) -> None:
        self.spec()  # parses the key and the range, checks grid, polyphony and bars
        if not (math.isfinite(self.repetition_penalty) and self.repetition_penalty > 0):
            raise ValueError(
                f"repetition_penalty must be finite and > 0 (1 is off), "
                f"got {self.repetition_penalty}"
            )
        if self.beam < 0:
            raise ValueError(f"beam must be >= 0 (0 samples), got {self.beam}")

    def spec(self, data_programs: tuple[int, ...] | None = None) -> constraints.Spec:
        """The constraints these controls ask for, parsed and checked. `data_programs` (the
        run's `DataMeta.programs`) restricts the instruments when `programs` is None, so a run
        trained on one piano plays one piano rather than inventing an orchestra."""
        polyphony = 1 if self.monophonic else self.max_polyphony
        if self.programs is not None:
            programs = constraints.parse_programs(self.programs)
        else:
            programs = frozenset(data_programs) if data_programs else None
        return constraints.Spec(
            key=self.parsed_key(),
            pitch_range=constraints.parse_pitch_range(self.pitch_range)
            if self.pitch_range
            else None,
            max_polyphony=polyphony,
            grid=self.grid,
            bars=self.bars,
            programs=programs,
        )

    def parsed_key(self) -> keys.Key | None:
        """The key of `key` (None without one): the scale and the key signature to write."""
        return keys.parse_key(self.key) if self.key else None
