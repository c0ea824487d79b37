"""PyTorch CPU peers of the same size, trained on the same token windows: HF GPT-2, a
`torch.compile`d nanoGPT-style GPT (what a PyTorch user tuning for speed would write) and
torch.nn.LSTM. Every peer trains with exactly our dropout settings."""

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
        attn_pdrop=shape["attention_dropout"],
        bos_token_id=1,  # our REMI special ids; GPT-2's defaults lie outside this vocabulary
        eos_token_id=2,
    )
    return GPT2LMHeadModel(cfg)


def compiled_gpt_model(shape: dict, n_positions: int):
    """nanoGPT's GPT with our Transformer's sizes: pre-LayerNorm blocks, one fused qkv matmul,
    `F.scaled_dot_product_attention(is_causal=True)` (PyTorch's fused attention), GELU, learned
    positions and a tied output embedding. `time_torch_training` wraps it in `torch.compile`."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    d_model, heads = shape["d_model"], shape["num_heads"]
    dropout, attention_dropout = shape["dropout"], shape["attention_dropout"]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_attn, self.ln_mlp = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
            self.qkv, self.proj = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)
            self.mlp = nn.Sequential(
                nn.Linear(d_model, shape["d_ff"]), nn.GELU(), nn.Linear(shape["d_ff"], d_model)
            )
            self.drop = nn.Dropout(dropout)

        def forward(self, x):
            batch, length, _ = x.shape
            q, k, v = self.qkv(self.ln_attn(x)).split(d_model, dim=2)
            q, k, v = (t.view(batch, length, heads, -1).transpose(1, 2) for t in (q, k, v))
            p = attention_dropout if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
            y = y.transpose(1, 2).reshape(batch, length, d_model)
            x = x + self.drop(self.proj(y))
            return x + self.drop(self.mlp(self.ln_mlp(x)))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(shape["vocab_size"], d_model)
            self.positions = nn.Embedding(n_positions, d_model)
            self.drop = nn.Dropout(dropout)
            self.blocks = nn.ModuleList(Block() for _ in range(shape["num_layers"]))
            self.ln_final = nn.LayerNorm(d_model)
            self.apply(self._init_weights)

        @staticmethod
        def _init_weights(module):
            """nanoGPT's (and ours): weights N(0, 0.02), biases 0; torch's default N(0, 1)
            embeddings make the tied logits start at a loss of about 18."""
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

        def forward(self, tokens):
            positions = torch.arange(tokens.shape[1], device=tokens.device)
            x = self.drop(self.embed(tokens) + self.positions(positions))
            for block in self.blocks:
                x = block(x)
            return self.ln_final(x) @ self.embed.weight.T  # tied output embedding

    return GPT()


def lstm_model(shape: dict):
    """Embedding -> torch.nn.LSTM (stacked) -> Linear head, with dropout where ours has it: on
    the embeddings and after every layer (nn.LSTM's own `dropout` covers all but the last)."""
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
            self.drop = torch.nn.Dropout(shape["dropout"])

        def forward(self, tokens):
            return self.head(self.drop(self.lstm(self.drop(self.embed(tokens)))[0]))

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


# Peer kinds: "transformer" is HF GPT-2 (the name the scaling benchmark passes too).
PEER_MODELS = ("transformer", "compiled_gpt", "lstm")


def build_peer(kind: str, shape: dict):
    """One of PEER_MODELS with our model's sizes."""
    if kind == "transformer":
        return gpt2_model(shape, shape["seq_len"])
    if kind == "compiled_gpt":
        return compiled_gpt_model(shape, shape["seq_len"])
    if kind == "lstm":
        return lstm_model(shape)
    raise ValueError(f"peer kind {kind!r}: expected one of {', '.join(PEER_MODELS)}")


def time_torch_training(
    kind: str, shape: dict, split: Split, steps: int, warmup: int = 2, threads: int = 0
):
    """Train the peer with AdamW and our learning rate on our batches; time the last `steps`.

    The compiled GPT is the tuned PyTorch recipe: `torch.compile` of the model and of the whole
    loss, and the fused AdamW; its compile time is the first step's time beyond a warm step's."""
    import torch

    torch.manual_seed(shape["seed"])
    threads = set_threads(threads)
    model = build_peer(kind, shape)
    model.train()
    fused = {"fused": True} if kind == "compiled_gpt" else {}
    opt = torch.optim.AdamW(
        model.parameters(), lr=shape["learning_rate"], weight_decay=shape["weight_decay"], **fused
    )
    loss_fn = torch.nn.CrossEntropyLoss()

    def forward_loss(inputs, targets):
        out = model(inputs)
        logits = out.logits if hasattr(out, "logits") else out
        return loss_fn(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    if kind == "compiled_gpt":
        forward_loss = torch.compile(forward_loss)
    bsz, seq_len, seed = shape["batch_size"], shape["seq_len"], shape["seed"]
    started, loss, step_s = None, None, []
    for step in range(warmup + steps):
        if step == warmup:
            started, cpu_started = time.perf_counter(), time.process_time()
        step_start = time.perf_counter()
        batch = train_batch(split, bsz, seq_len, seed, step)
        inputs = torch.from_numpy(np.asarray(batch["inputs"], np.int64))
        targets = torch.from_numpy(np.asarray(batch["targets"], np.int64))
        loss = forward_loss(inputs, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), shape["grad_clip"])
        opt.step()
        step_s.append(time.perf_counter() - step_start)
    elapsed = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    return {
        "tokens_per_s": steps * bsz * seq_len / elapsed,
        "step_ms": 1000.0 * elapsed / steps,
        "cpu_ms_per_step": 1000.0 * cpu_s / steps,
        # the first step's excess over a timed step: graph capture and codegen (torch.compile)
        "compile_s": max(step_s[0] - elapsed / steps, 0.0),
        "num_params": int(sum(p.numel() for p in model.parameters())),
        "final_loss": float(loss),
        "torch_version": torch.__version__,
        "threads": threads,
    }
