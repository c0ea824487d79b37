"""Batch sources for prepared directories: `TokenData` (`symbolic prepare`: random windows of
the token stream) and `SegmentData` (`symbolic vae prepare`: whole segments). Both are
`symbolic.training.trainer.BatchSource`s, their batches a function of (seed, step)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from symbolic import models
from symbolic.data import fim
from symbolic.data import segments as segments_lib
from symbolic.data.batches import Split, eval_batches, load_split, train_batch
from symbolic.data.meta import DataMeta, Meta, SegmentsMeta
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
        return fim.fim_batch(batch, self.fim, tcfg.fim_rate, tcfg.seed, step)

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


def check_data_kind(config: RunConfig, meta: Meta, data_dir: Path) -> None:
    """The VAE's ELBO reads whole segments and the language models read token streams; either on
    the other kind's folder would train without a word, on data it was not meant for."""
    name, segments = config.model_name, isinstance(meta, SegmentsMeta)
    if models.objective(name) == "elbo" and not segments:
        raise ValueError(
            f"{data_dir}: holds token streams; model {name!r} trains on segments made by "
            f"`symbolic vae prepare`"
        )
    if models.objective(name) != "elbo" and segments:
        raise ValueError(
            f"{data_dir}: holds VAE segments; model {name!r} trains on token streams made by "
            f"`symbolic prepare`"
        )


def load_data(data_dir: Path, config: RunConfig, meta: Meta) -> TokenData | SegmentData:
    """The batch source for a prepared directory, by the kind its meta.json declares."""
    if isinstance(meta, SegmentsMeta):
        return SegmentData(data_dir, config, meta)
    return TokenData(data_dir, config, meta)


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
