"""Batch sources for prepared directories: `TokenData` (`symbolic prepare`: random windows of
the token stream), `SegmentData` (`symbolic vae prepare`: whole segments), `AudioData`
(`symbolic audio prepare`) and `PhraseData` (`symbolic gan prepare`), one `DataKind` each. All
are `symbolic.training.trainer.BatchSource`s, their batches a function of (seed, step)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbolic import models
from symbolic.audio import batches as audio_batches
from symbolic.data import fim, phrase_sets
from symbolic.data import segments as segments_lib
from symbolic.data.batches import Split, eval_batches, load_split, train_batch
from symbolic.data.meta import AudioMeta, DataMeta, Meta, PhrasesMeta, SegmentsMeta
from symbolic.training.baselines import unigram_nll
from symbolic.training.checkpoint import TOKENIZER_FILE
from symbolic.training.config import RunConfig

Batch = dict[str, np.ndarray]


class TokenData:
    """A `symbolic prepare` directory: random windows of the token stream (language models)."""

    def __init__(self, data_dir: Path, config: RunConfig, meta: DataMeta):
        self.config, self.pad_id = config, meta.special_ids.pad
        self.splits = {name: load_split(data_dir, name) for name in ("train", "valid")}
        self.fim = fim_tokens(data_dir, meta) if config.train.fim_rate > 0 else None

    def train_batch(self, step: int) -> Batch:
        tcfg = self.config.train
        batch = train_batch(self.splits["train"], tcfg.batch_size, tcfg.seq_len, tcfg.seed, step)
        if self.fim is None:
            return batch
        return fim.fim_batch(batch, self.fim, tcfg.fim_rate, tcfg.seed, step, tcfg.fim_span)

    def eval_batches(self) -> Iterable[Batch]:
        tcfg = self.config.train
        return eval_batches(
            self.splits["valid"], tcfg.batch_size, tcfg.seq_len, tcfg.eval_max_windows, self.pad_id
        )

    def baseline_nll(self) -> float | None:
        return baseline_nll(self.splits["train"], self.splits["valid"], self.config)


def fim_tokens(data_dir: Path, meta: DataMeta) -> fim.FimTokens:
    """The FIM sentinel ids after DATA_DIR's vocabulary, and its Bar and EOS ids."""
    from symbolic import tokenization  # miditok only for FIM runs

    tokenizer = tokenization.load_tokenizer(Path(data_dir) / TOKENIZER_FILE)
    if "Bar_None" not in tokenizer.vocab:
        raise ValueError(f"{data_dir}: train.fim_rate needs a tokenizer with Bar tokens (REMI)")
    eos = meta.special_ids.eos
    return fim.FimTokens.for_vocab(meta.vocab_size, tokenizer.vocab["Bar_None"], eos)


class SegmentData:
    """A `symbolic vae prepare` directory: whole fixed-length segments [N, T] per batch row."""

    def __init__(self, data_dir: Path, config: RunConfig, meta: SegmentsMeta):
        self.config = config
        self.splits = {
            name: segments_lib.load_segments(data_dir, name)["segments"]
            for name in ("train", "valid")
        }

    def train_batch(self, step: int) -> Batch:
        tcfg = self.config.train
        return segments_lib.segment_train_batch(
            self.splits["train"], tcfg.batch_size, tcfg.seed, step
        )

    def eval_batches(self) -> Iterable[Batch]:
        return segments_lib.segment_eval_batches(
            self.splits["valid"], self.config.train.batch_size, self.config.train.eval_max_windows
        )

    def baseline_nll(self) -> float | None:
        train, valid = self.splits["train"].ravel(), self.splits["valid"].ravel()
        if valid.size == 0:  # an empty valid split: nothing to score
            return None
        return unigram_nll(train, valid, self.config.model.vocab_size)


class AudioData:
    """A `symbolic audio prepare` directory: windows of feature frames and their frame labels
    (the transcriber); `seq_len` is the window in frames."""

    def __init__(self, data_dir: Path, config: RunConfig, meta: AudioMeta):
        self.config = config
        self.splits = {
            name: audio_batches.load_audio_split(data_dir, name) for name in ("train", "valid")
        }

    def train_batch(self, step: int) -> Batch:
        tcfg = self.config.train
        return audio_batches.train_batch(
            self.splits["train"], tcfg.batch_size, tcfg.seq_len, tcfg.seed, step
        )

    def eval_batches(self) -> Iterable[Batch]:
        tcfg = self.config.train
        return audio_batches.eval_batches(
            self.splits["valid"], tcfg.batch_size, tcfg.seq_len, tcfg.eval_max_windows
        )

    def baseline_nll(self) -> None:
        return None  # no unigram baseline for frame labels


class PhraseData:
    """A `symbolic gan prepare` directory: the train split's piano-roll phrases (kept
    bit-packed) and, per step, every random draw of a WGAN-GP step (`phrase_sets.gan_batch`).
    A GAN has no validation likelihood: `validates` is False."""

    validates = False

    def __init__(self, data_dir: Path, config: RunConfig, meta: PhrasesMeta):
        from symbolic.models.gan import latent_shapes

        self.config, self.pitches = config, meta.pitches
        self.packed = phrase_sets.load_packed(data_dir, "train")
        shapes = latent_shapes(config.model, 1)
        self.latent_shapes = {name: shape[1:] for name, shape in shapes.items()}

    def train_batch(self, step: int) -> Batch:
        model, tcfg = self.config.model, self.config.train
        return phrase_sets.gan_batch(
            self.packed,
            self.pitches,
            batch_size=tcfg.batch_size,
            n_critic=model.n_critic,
            latent_shapes=self.latent_shapes,
            condition_rate=model.condition_rate if model.condition else 0.0,
            seed=tcfg.seed,
            step=step,
        )

    def eval_batches(self) -> Iterable[Batch]:
        return ()

    def baseline_nll(self) -> None:
        return None


@dataclass(frozen=True)
class DataKind:
    """One kind of prepared folder: its meta.json record, its batch source, and how a one-line
    error names it (what a folder of this kind holds; what a model of it trains on)."""

    meta: type
    source: type
    holds: str
    trains_on: str


# `data_kind` takes the first whose meta record matches.
DATA_KINDS = (
    DataKind(
        PhrasesMeta,
        PhraseData,
        "piano-roll phrases for the GAN",
        "piano-roll phrases made by `symbolic gan prepare`",
    ),
    DataKind(
        AudioMeta,
        AudioData,
        "audio features for the transcriber",
        "audio features made by `symbolic audio prepare`",
    ),
    DataKind(SegmentsMeta, SegmentData, "VAE segments", "segments made by `symbolic vae prepare`"),
    DataKind(DataMeta, TokenData, "token streams", "token streams made by `symbolic prepare`"),
)
# A model's objective -> the meta record of the folders it trains on (any other: token streams).
_META_OF_OBJECTIVE = {"gan": PhrasesMeta, "transcription": AudioMeta, "elbo": SegmentsMeta}


def data_kind(meta: Meta) -> DataKind:
    """The kind of folder whose meta.json is `meta`."""
    return next(kind for kind in DATA_KINDS if isinstance(meta, kind.meta))


def check_data_kind(config: RunConfig, meta: Meta, data_dir: Path) -> None:
    """Each model trains on one kind of folder (the VAE on segments, the transcriber on audio
    features, the GAN on phrases, the language models on token streams); on another kind it
    would train without a word, on data it was not meant for."""
    name = config.model_name
    wanted = _META_OF_OBJECTIVE.get(models.objective(name), DataMeta)
    found = data_kind(meta)
    if found.meta is not wanted:
        expected = next(kind for kind in DATA_KINDS if kind.meta is wanted)
        raise ValueError(
            f"{data_dir}: holds {found.holds}; model {name!r} trains on {expected.trains_on}"
        )


def load_data(
    data_dir: Path, config: RunConfig, meta: Meta
) -> TokenData | SegmentData | AudioData | PhraseData:
    """The batch source for a prepared directory, by the kind its meta.json declares."""
    return data_kind(meta).source(data_dir, config, meta)


def baseline_nll(train: Split, valid: Split, config: RunConfig) -> float | None:
    """Unigram NLL over exactly the validation targets the model is scored on; None when the
    split has none (a mean over nothing would be NaN)."""
    tcfg = config.train
    num_targets = len(valid.tokens) - 1
    if tcfg.eval_max_windows > 0:
        num_targets = min(num_targets, tcfg.eval_max_windows * tcfg.seq_len)
    if num_targets <= 0:
        return None
    return unigram_nll(train.tokens, valid.tokens[1 : 1 + num_targets], config.model.vocab_size)
