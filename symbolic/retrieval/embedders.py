"""The three embeddings an index can hold, each a small object with one surface:

    rows, parts = embedder.file_rows(path)   # [R, D] float32 and R part names: what is indexed
    query = embedder.query_rows(path)        # [Q, D] float32: what a query is searched with

- `features` (`FeatureEmbedder`): the model-free histograms of `symbolic.retrieval.features`,
  one row for the mix and one per track; transposition-invariant by construction.
- `vae` (`VAEEmbedder`): the mean of a trained VAE's posterior means over the melody segments
  (`VAERun.encode`) of the file's top voice and of each track's.
- `transformer` (`TransformerEmbedder`): the mean over the piece of a trained Transformer's final
  hidden states (the output of its last LayerNorm, read with Flax's `capture_intermediates`,
  so the model module stays as it is).

A latent or a hidden state is not transposition-invariant. With `transpose="key"` (the default)
every file and query is first moved to C major / A minor in a fixed register
(`features.key_shift`), which a transposed copy undoes exactly, at the cost of one pass; with
`transpose="search"` the query is tried at every shift in -6..+6, as `symbolic.vae.similarity`
does, which costs 13 passes a query.

The learned embedders import jax on construction only, so the model-free path (and its worker
processes) never loads it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Protocol

import numpy as np
from symusic import Score

from symbolic.data.convert import load_score
from symbolic.retrieval import features

EMBEDDINGS = ("features", "vae", "transformer")
MAX_TRANSPOSE = 6  # query shifts of transpose="search": -6..+6 covers every key
TRANSPOSE = ("key", "search")


class Embedder(Protocol):
    name: str
    run: str | None

    def file_rows(self, path: str | Path) -> tuple[np.ndarray, list[str]]: ...

    def query_rows(self, path: str | Path) -> np.ndarray: ...


def _score(path: str | Path) -> Score:
    score = load_score(path)
    if score.note_num() == 0:
        raise ValueError(f"{path}: no notes")
    return score


class FeatureEmbedder:
    """The model-free embedding (no run)."""

    name, run = "features", None

    def file_rows(self, path: str | Path) -> tuple[np.ndarray, list[str]]:
        score = _score(path)  # its errors name the file
        try:
            return features.embed_score(score)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None

    def query_rows(self, path: str | Path) -> np.ndarray:
        return self.file_rows(path)[0]


def _shifted(score: Score, shift: int) -> Score:
    if not shift:
        return score
    out = score.copy()
    for track in out.tracks:
        if not track.is_drum:
            track.shift_pitch(shift, inplace=True)
    return out


class _Learned:
    """What the learned embedders share: `transpose` ("key" or "search"), `per_track` (rows for
    the mix and each track of at least MIN_TRACK_NOTES notes, as the model-free embedding has,
    or the mix alone), and the scores a file and a query are embedded as. Subclasses give
    `embed(path, score) -> [D]` (a ValueError when the score has nothing to embed)."""

    def __init__(self, transpose: str, per_track: bool) -> None:
        if transpose not in TRANSPOSE:
            raise ValueError(f"transpose {transpose!r}: choose from {list(TRANSPOSE)}")
        self.transpose, self.per_track = transpose, per_track

    def embed(self, path: str | Path, score: Score) -> np.ndarray:
        raise NotImplementedError

    def _parts(self, score: Score) -> list[tuple[str, Score]]:
        found = [(features.MIX, score)]
        tracks = [
            i
            for i, t in enumerate(score.tracks)
            if not t.is_drum and len(t.notes) >= features.MIN_TRACK_NOTES
        ]
        if self.per_track and len(tracks) > 1:
            for i in tracks:
                one = score.copy()
                one.tracks = [one.tracks[i]]
                found.append((score.tracks[i].name or f"track {i}", one))
        return found

    def file_scores(self, path: str | Path) -> list[tuple[str, Score]]:
        """(part name, score) of each part of the file, each moved to its own key with "key" (so
        a melody alone lands where the song's melody track did)."""
        found = self._parts(_score(path))
        if self.transpose == "key":
            found = [(name, _shifted(s, features.key_shift(s))) for name, s in found]
        return found

    def query_scores(self, path: str | Path) -> list[Score]:
        if self.transpose == "key":
            return [score for _, score in self.file_scores(path)]
        shifts = range(-MAX_TRANSPOSE, MAX_TRANSPOSE + 1)
        return [_shifted(part, s) for _, part in self._parts(_score(path)) for s in shifts]

    def file_rows(self, path: str | Path) -> tuple[np.ndarray, list[str]]:
        rows, names = [], []
        for name, score in self.file_scores(path):
            try:
                rows.append(self.embed(path, score))
            except ValueError:
                if name == features.MIX:  # the whole file has nothing to embed
                    raise
                continue  # a track without (e.g.) a melody segment is left out
            names.append(name)
        return np.stack(rows), names

    def query_rows(self, path: str | Path) -> np.ndarray:
        rows = []
        for score in self.query_scores(path):
            try:
                rows.append(self.embed(path, score))
            except ValueError:
                continue
        if not rows:
            raise ValueError(f"{path}: nothing the run can embed")
        return np.stack(rows)


class VAEEmbedder(_Learned):
    """A trained VAE run's mean latent of a file's melody segments."""

    name = "vae"

    def __init__(self, run_dir: str | Path, transpose: str = "key", per_track: bool = True) -> None:
        from symbolic.vae.run import load_vae

        super().__init__(transpose, per_track)
        self.vae = load_vae(run_dir)
        self.run = str(run_dir)

    def segments(self, path: str | Path, score: Score) -> np.ndarray:
        """The score's melody segments as the run cut its data [S, T] int32. A file whose declared
        meter is not 4/4 (POP909 declares 1/4 for songs in 4/4) is read on a 4/4 grid, since a
        retrieval embedding needs every file, not only the ones the VAE's data kept."""
        from symbolic.data import segments as seg

        meta = self.vae.meta
        found, _ = seg.score_segments(score, meta.bars, meta.melody_program)
        if len(found) == 0:
            events = seg.melody_events(score, meta.melody_program)
            found, _ = seg.cut_segments(events, meta.steps_per_bar, meta.bars)
        if len(found) == 0:
            raise ValueError(f"{path}: no melody segment with notes to encode")
        return found

    def embed(self, path: str | Path, score: Score) -> np.ndarray:
        return self.vae.encode(self.segments(path, score)).mean(axis=0)


@functools.lru_cache(maxsize=4)
def _hidden_means(config):
    """A jitted (params, tokens [B, W] int32, mask [B, W] bool) -> (sums [B, C], counts [B]) of
    the Transformer's final hidden states over the masked positions."""
    import jax
    import jax.numpy as jnp

    from symbolic.models.transformer import TransformerLM

    model = TransformerLM(config)

    def sums(params, tokens, mask):
        _, state = model.apply(
            {"params": params},
            tokens,
            capture_intermediates=lambda module, _: module.name == "ln_final",
            mutable=["intermediates"],
        )
        hidden = state["intermediates"]["ln_final"]["__call__"][0]  # [B, W, C]
        return (hidden * mask[..., None]).sum(axis=1), mask.sum(axis=1)

    return jax.jit(sums), jnp


class TransformerEmbedder(_Learned):
    """A trained Transformer run's mean final hidden state over a piece's tokens."""

    name = "transformer"
    BATCH = 8  # windows per call: a fixed shape compiles once

    def __init__(
        self,
        run_dir: str | Path,
        transpose: str = "key",
        per_track: bool = False,
        window: int = 512,
    ) -> None:
        """`per_track` is off by default: each row is a pass of the model over the piece, and on
        a CPU the mix alone already costs about a second a song."""
        from symbolic.generation.engine import LoadedRun

        super().__init__(transpose, per_track)
        self.lm = LoadedRun.load(run_dir)
        if self.lm.config.model_name != "transformer":
            raise ValueError(f"{run_dir}: a {self.lm.config.model_name!r} run, not a Transformer")
        self.run = str(run_dir)
        self.window = min(window, self.lm.config.model.max_len)

    def ids(self, score: Score) -> np.ndarray:
        """The piece in the run's data view: token ids [L] int32, BOS/EOS/PAD left out."""
        from symbolic.data import views

        special = self.lm.meta.special_ids
        ids = views.encode_score(self.lm.tokenizer, self.lm.meta, score)
        return np.asarray([i for i in ids if i not in (special.bos, special.eos, special.pad)])

    def mean_hidden(self, ids: np.ndarray) -> np.ndarray:
        """Mean final hidden state [C] float32 over ids [L], read in windows of `window`."""
        fn, jnp = _hidden_means(self.lm.config.model)
        pad, width = self.lm.meta.special_ids.pad, self.window
        count = max(1, -(-len(ids) // width))
        padded = np.full(count * width, pad, np.int32)
        padded[: len(ids)] = ids
        windows = padded.reshape(count, width)
        total, seen = 0.0, 0.0
        for first in range(0, count, self.BATCH):
            part = np.full((self.BATCH, width), pad, np.int32)
            chunk = windows[first : first + self.BATCH]
            part[: len(chunk)] = chunk
            mask = part != pad
            sums, counts = fn(self.lm.params, jnp.asarray(part), jnp.asarray(mask))
            total, seen = total + np.asarray(sums).sum(axis=0), seen + float(counts.sum())
        return (total / max(seen, 1.0)).astype(np.float32)

    def embed(self, path: str | Path, score: Score) -> np.ndarray:
        try:
            ids = self.ids(score)
        except ValueError as err:  # views.NoContent: nothing of the run's view in the file
            raise ValueError(f"{path}: {err}") from None
        if len(ids) == 0:
            raise ValueError(f"{path}: no tokens in the run's view")
        return self.mean_hidden(ids)


def embedder(name: str, run: str | Path | None = None, **options) -> Embedder:
    """The embedder `name` ("features", "vae" or "transformer"); the learned ones need `run`."""
    if name not in EMBEDDINGS:
        raise ValueError(f"--embedding {name!r}: choose from {list(EMBEDDINGS)}")
    if name == "features":
        return FeatureEmbedder()
    if run is None:
        raise ValueError(f"--embedding {name} needs --run RUN (a trained {name} run directory)")
    return (VAEEmbedder if name == "vae" else TransformerEmbedder)(run, **options)
