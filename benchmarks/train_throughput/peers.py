"""PyTorch CPU peers of the same size, trained on the same token windows: HF GPT-2 and nn.LSTM."""

from __future__ import annotations

import os
import time

import numpy as np

from symbolic.data.batches import Split, train_batch

MISSING = "torch/transformers not installed (pip install -e '.[bench]'); skipping the peers"


def torch_available() -> bool:
    """Whether the optional peer dependencies (`bench` extra) import."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def gpt2_model(shape: dict, n_positions: int):
    """A randomly initialised HF GPT-2 LM with our Transformer's sizes (learned positions, GELU)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        vocab_size=shape["vocab_size"],
        n_positions=n_positions,
        n_embd=shape["d_model"],
        n_layer=shape["num_layers"],
        n_head=shape["num_heads"],
        n_inner=shape["d_ff"],
        resid_pdrop=shape["dropout"],
        embd_pdrop=shape["dropout"],
        attn_pdrop=shape["dropout"],
        bos_token_id=1,  # our REMI special ids; GPT-2's defaults lie outside this vocabulary
        eos_token_id=2,
    )
    return GPT2LMHeadModel(cfg)


def lstm_model(shape: dict):
    """Embedding -> torch.nn.LSTM (stacked, dropout between layers) -> Linear head."""
    import torch

    class LSTMLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(shape["vocab_size"], shape["embed_dim"])
            self.lstm = torch.nn.LSTM(
                shape["embed_dim"],
                shape["hidden_size"],
                num_layers=shape["num_layers"],
                dropout=shape["dropout"],
                batch_first=True,
            )
            self.head = torch.nn.Linear(shape["hidden_size"], shape["vocab_size"])

        def forward(self, tokens):
            return self.head(self.lstm(self.embed(tokens))[0])

    return LSTMLM()


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (default: every core) and return the number.

    On a machine loaded beyond its cores, torch's OpenMP barriers collapse: HF generate ran
    13x slower with 2 threads than with 1 on our shared 2-core machine (9 vs 119 ms/step).
    """
    import torch

    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    return threads


def time_torch_training(
    model_kind: str, shape: dict, split: Split, steps: int, warmup: int = 2, threads: int = 0
):
    """Train the peer with AdamW and our learning rate on our batches; time the last `steps`."""
    import torch

    torch.manual_seed(shape["seed"])
    threads = set_threads(threads)
    if model_kind == "transformer":
        model = gpt2_model(shape, shape["seq_len"])
    else:
        model = lstm_model(shape)
    model.train()
    opt = torch.optim.AdamW(
        model.parameters(), lr=shape["learning_rate"], weight_decay=shape["weight_decay"]
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    bsz, seq_len, seed = shape["batch_size"], shape["seq_len"], shape["seed"]
    started, loss = None, None
    for step in range(warmup + steps):
        if step == warmup:
            started = time.perf_counter()
        batch = train_batch(split, bsz, seq_len, seed, step)
        inputs = torch.from_numpy(np.asarray(batch["inputs"], np.int64))
        targets = torch.from_numpy(np.asarray(batch["targets"], np.int64))
        out = model(inputs)
        logits = out.logits if hasattr(out, "logits") else out
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), shape["grad_clip"])
        opt.step()
    elapsed = time.perf_counter() - started
    return {
        "tokens_per_s": steps * bsz * seq_len / elapsed,
        "step_ms": 1000.0 * elapsed / steps,
        "num_params": int(sum(p.numel() for p in model.parameters())),
        "final_loss": float(loss),
        "torch_version": torch.__version__,
        "threads": threads,
    }
