"""results.md: our figures beside the published ones, and every protocol choice written out."""

from __future__ import annotations

from benchmarks.chorales_nll import data, ngram
from benchmarks.common import markdown_table

REFERENCES = {
    "MT": "Huang et al. 2019, *Music Transformer: Generating Music with Long-Term Structure*, "
    "ICLR (arXiv:1809.04281); JSB Chorales, note-wise validation NLL",
    "TonicNet": "Peracha 2019, *Improving Polyphonic Music Models with Feature-Rich Encoding* "
    "(arXiv:1911.11775); test NLL per note token, chord tokens excluded",
    "BL2012": "Boulanger-Lewandowski, Bengio & Vincent 2012, *Modeling Temporal Dependencies in "
    "High-Dimensional Sequences: Application to Polyphonic Music Generation and "
    "Transcription*, ICML (arXiv:1206.6392), Table 1 (reported as log-likelihoods)",
    "Bai2018": "Bai, Kolter & Koltun 2018, *An Empirical Evaluation of Generic Convolutional and "
    "Recurrent Networks for Sequence Modeling* (arXiv:1803.01271), Table 1",
}
# (result key, model, split, value, reference)
PUBLISHED_NOTE = [
    (
        "published_valid_nll_music_transformer_relative",
        "Music Transformer, relative attention",
        "valid",
        0.335,
        "MT",
    ),
    (
        "published_valid_nll_music_transformer_baseline",
        "Transformer baseline (same paper)",
        "valid",
        0.417,
        "MT",
    ),
    (
        "published_test_nll_tonicnet",
        "TonicNet (a different unit, see below)",
        "test",
        0.220,
        "TonicNet",
    ),
]
PUBLISHED_FRAME = [
    ("published_test_frame_nll_rnn_rbm", "RNN-RBM", "test", 7.27, "BL2012"),
    ("published_test_frame_nll_rnn_nade", "RNN-NADE", "test", 5.56, "BL2012"),
    ("published_test_frame_nll_lstm", "LSTM", "test", 8.45, "Bai2018"),
    ("published_test_frame_nll_tcn", "TCN", "test", 8.10, "Bai2018"),
]
MODEL_LABELS = {  # the sequence-model parts of run.py, by part name
    "relative": "Transformer, relative attention (Music Transformer)",
    "rope": "Transformer, rotary positions (RoPE)",
    "learned": "Transformer, absolute positions (learned)",
    "lstm": "LSTM",
}


def _ran(r: dict, name: str) -> bool:
    return f"valid_nll_{name}" in r


def _not_run(part: str) -> str:
    return f"not run yet: `python -m benchmarks.chorales_nll --only {part}`"


def published() -> dict[str, float]:
    """The published figures, flat, for results.json."""
    return {row[0]: row[3] for row in PUBLISHED_NOTE + PUBLISHED_FRAME}


def _published_rows(rows: list[tuple]) -> list[list]:
    return [
        [
            name,
            f"{value:.3f}" if split == "valid" else "",
            f"{value:.3f}" if split == "test" else "",
            f"[{ref}]",
        ]
        for _, name, split, value, ref in rows
    ]


def note_table(r: dict) -> str:
    rows = [
        [label, r[f"valid_nll_{key}"], r[f"test_nll_{key}"], "ours"]
        if _ran(r, key)
        else [label, "", "", _not_run(key)]
        for key, label in MODEL_LABELS.items()
    ]
    for key, label, before in (
        ("bigram_above", "bigram + voice above (best n-gram)", "0.89"),
        ("bigram", "same-voice bigram", "0.99"),
        ("unigram", "unigram", "3.40"),
    ):
        rows.append(
            [
                label,
                r[f"valid_nll_{key}"],
                r[f"test_nll_{key}"],
                f"ours (measured before on test: {before})",
            ]
            if _ran(r, key)
            else [label, "", "", _not_run("ngram")]
        )
    return markdown_table(
        ["model", "valid", "test", "source"], rows + _published_rows(PUBLISHED_NOTE)
    )


def frame_table(r: dict) -> str:
    rows = [
        [
            "LSTM, independent Bernoulli over 88 keys",
            r["valid_frame_nll_lstm"],
            r["test_frame_nll_lstm"],
            "ours",
        ]
    ]
    return markdown_table(
        ["model", "valid", "test", "source"], rows + _published_rows(PUBLISHED_FRAME)
    )


def _config_line(config) -> str:
    skip = {"vocab_size", "dtype", "decode", "rope_base"}
    if getattr(config, "position", "relative") != "relative":
        skip.add("max_relative_distance")
    return ", ".join(f"{k}={v}" for k, v in vars(config).items() if k not in skip)


def training_table(r: dict, settings, runs: dict) -> str:
    """One row per trained model; `runs` maps result names to (RunConfig, EvalWindows)."""
    rows = []
    for name, (config, _) in runs.items():
        if not _ran(r, name):
            continue
        train = config.train
        rows.append(
            [
                MODEL_LABELS[name],
                f"{r[f'{name}_params']:,}",
                _config_line(config.model),
                f"{train.batch_size} x {train.seq_len} tokens, lr {train.learning_rate}",
                f"{r[f'{name}_steps']} ({r[f'{name}_best_step']})",
                f"{r[f'{name}_train_s']:.0f}",
            ]
        )
    fm, ft = settings.frame_model, settings.frame_train
    if "frame_lstm_params" in r:
        rows.append(
            [
                "frame LSTM",
                f"{r['frame_lstm_params']:,}",
                _config_line(fm),
                f"{ft.batch_size} whole chorales, lr {ft.learning_rate}",
                f"{r['frame_lstm_steps']} ({r['frame_lstm_best_step']})",
                f"{r['frame_lstm_train_s']:.0f}",
            ]
        )
    return markdown_table(["model", "params", "config", "batch", "steps (best)", "train s"], rows)


def references() -> str:
    return "## References\n\n" + "\n".join(f"- [{k}] {v}" for k, v in REFERENCES.items())


def markdown(r: dict, settings, runs: dict) -> str:
    """The whole results.md for results `r` produced with `settings` and the model `runs`."""
    sections = [
        _header(r),
        _note_section(r, settings),
        _frame_section(r) if "valid_frame_nll_lstm" in r else _not_run("frames"),
        _remi_section(r) if "remi_valid_nll_transformer" in r else _not_run("remi"),
        _protocol_section(settings),
        _training_section(r, settings, runs),
        _parts_section(r),
        references(),
    ]
    return "\n\n".join(sections)


def _header(r: dict) -> str:
    quick = (
        "\n**This is a `--quick` run: tiny models, not the benchmark's figures.**\n"
        if r["quick"]
        else ""
    )
    scored = next((name for name in MODEL_LABELS if _ran(r, name)), None)
    tokens = (
        f" Scored: {r[f'valid_tokens_{scored}']:,} valid and {r[f'test_tokens_{scored}']:,} "
        "test voice tokens, every voice token exactly once, for every model."
        if scored
        else ""
    )
    return f"""# JSB Chorales: note-wise and frame-level NLL
{quick}
Last command: `{r["command"]}` (run from the repository root; {r["wall_s"] / 60:.1f} min; each
part's time and commit are under "Parts" below).
Device: `{r["devices"]}` ({r["platform"]}, {r["cpu_count"]} CPUs);
jax {r["jax_version"]}, flax {r["flax_version"]}, optax {r["optax_version"]}.

Data: Boulanger-Lewandowski's split (229 / 76 / 77 chorales) in the Coconet 16th-note SATB
format (`Jsb16thSeparated.npz`) and the quarter-note file, read from `../shared/data/jsb/` (or
`$SYMBOLIC_JSB_DIR`).{tokens}"""


def _parts_section(r: dict) -> str:
    minutes = r.get("part_wall_s", {})
    rows = [
        [
            f"`--only {part}`",
            f"{minutes[part] / 60:.1f}" if part in minutes else "not recorded (one earlier run)",
            commit or "",
        ]
        for part, commit in r.get("part_commits", {}).items()
    ]
    return f"""## Parts

Each part runs alone with `python -m benchmarks.chorales_nll --only PART` and merges its keys
into results.json; the summary keys (`valid_nll_transformer`: the best Transformer whatever its
position scheme; `valid_nll_best`, `test_nll_best`, `best_model`: the best sequence model on
valid) are recomputed over the parts present.

{markdown_table(["part", "minutes", "commit"], rows)}"""


def _note_section(r: dict, settings) -> str:
    t = settings.transformer_train
    tokens = t.steps * t.batch_size * t.seq_len
    gap = ""
    if "transformer_best" in r:
        best = r["transformer_best"]
        gap = f"""**Gap to the Music Transformer.** Our best Transformer ({MODEL_LABELS[best]}) is
{r["valid_nll_transformer"] - 0.335:+.3f} nats per voice-token from 0.335 on valid. Reasons, in
the order we think they matter: (1) compute: at most {t.steps} steps of {t.batch_size} x
{t.seq_len} tokens (about {tokens / 1e6:.1f}M tokens, {tokens / (4 * 55228):.1f} times the
221k voice tokens of the training chorales, before augmentation) on 2 shared CPU cores;
{_still(r, best, t)}; (2) size: {r[f"{best}_params"]:,} parameters; (3) context: {t.seq_len}
tokens ({t.seq_len // 4} sixteenth steps) per window, where chorales run to 2,562 tokens.
{_positions_compared(r)}

"""
    return f"""## Note-wise NLL, nats per voice-token

{note_table(r)}

{_ngram_line(r)}

{_curves_line(r)}

{gap}**Three position schemes on one budget.** `relative` is Huang et al.'s relative attention:
each layer learns an embedding per head and distance (up to `max_relative_distance`, here the
whole window), multiplies it with the queries and adds the result to the attention logits,
computed with the skewing trick (no [T, T, D] tensor). `rope` rotates queries and keys by their
absolute position, so that their dot product depends only on the offset. `learned` adds an
absolute position embedding to the input. All three have the same width, depth, schedule and
windows (the relative tables add parameters).

**TonicNet's 0.220 is a different unit.** Its sequence puts a chord token before the voices at
each step, and its inputs carry extra features (how long a note has been repeated). The chord
tokens are excluded from its reported NLL, but the model still conditions on them, so the voice
tokens it is scored on are easier to predict than ours, and its token set is not our one token
per voice per 16th step. The figure is here for orientation only."""


def _frame_section(r: dict) -> str:
    return f"""## Frame-level NLL on the quarter-note file, nats per frame (sum over 88 keys)

{frame_table(r)}

Our protocol follows Bai et al.'s code: a chorale's frame t + 1 is predicted from frames 0..t,
its first frame is context only, and the loss is the sum of 88 Bernoulli NLLs averaged over all
scored frames of the split. The published figures are test NLLs copied from the cited tables;
we could not open the papers in this environment to re-check their second decimals. An
independent-Bernoulli output cannot model the dependencies between the notes of one frame,
which is what the RNN-RBM and RNN-NADE output layers add; the LSTM rows are the comparable
baseline."""


def remi_table(r: dict) -> str:
    rows = [
        [
            label,
            r[f"remi_valid_nll_{key}"],
            r[f"remi_valid_perplexity_{key}"],
            r[f"remi_test_nll_{key}"],
            r[f"remi_test_perplexity_{key}"],
        ]
        for key, label in (
            ("transformer", f"Transformer (RoPE), `{r['remi_preset']}` preset"),
            ("lstm", f"LSTM, `{r['remi_preset']}` preset"),
            ("unigram", "unigram (add-one)"),
        )
    ]
    return markdown_table(
        ["model", "valid NLL", "valid perplexity", "test NLL", "test perplexity"], rows
    )


def _remi_section(r: dict) -> str:
    return f"""## Token-level NLL on the REMI-tokenized music21 chorales, nats per REMI token

{remi_table(r)}

The engine's own data, as a user gets it: `data_manifests/bach_chorales.json` (music21's Bach
corpus, its own seeded split by work: {r["remi_train_works"]} / {r["remi_valid_works"]} /
{r["remi_test_works"]} works, not the JSB split), prepared with the `remi` tokenizer preset
(vocabulary {r["remi_vocab_size"]}). Each model is trained with
`symbolic train --preset {r["remi_preset"]}` ({r["remi_transformer_steps"]} and
{r["remi_lstm_steps"]} steps) and scored with `symbolic eval` on every target token of the
split ({r["remi_valid_tokens"]:,} valid, {r["remi_test_tokens"]:,} test), in non-overlapping
windows of the training length. A REMI token is one Bar, Position, Program, Pitch, Velocity or
Duration event, so the unit is not the voice-token one above: many REMI tokens (Velocity, most
Programs) are nearly deterministic, which is why the NLL per token is low."""


def _protocol_section(settings) -> str:
    t, stride = settings.transformer_train, settings.eval_stride
    first, last = data.PITCH_OFFSET, data.VOCAB_SIZE - 1
    low, high = data.LOWEST_PITCH, data.HIGHEST_PITCH
    return f"""## Protocol

- **Serialisation.** At every 16th step the four voices in the order soprano, alto, tenor,
  bass, one token each: `[BOS, S0, A0, T0, B0, S1, ..., B(n-1), EOS]`, one sequence per
  chorale. Held notes repeat their pitch token at every step (the Coconet grid has no onsets).
- **Vocabulary** ({data.VOCAB_SIZE} tokens): PAD {data.PAD}, BOS {data.BOS}, EOS {data.EOS},
  one REST ({data.REST}) for a silent voice, then MIDI pitches {low}..{high} (ids
  {first}..{last}), **shared by all voices**: a pitch token means the same pitch in any voice;
  the voice is implied by the position (token i is voice (i - 1) mod 4). The pitch range is the
  training split's; valid and test lie inside it.
- **Transposition augmentation** of the training split only: {_augmentation(settings)} Valid
  and test are used as given; no key normalisation. The n-gram baselines and the frame model
  use the training chorales as given.
- **Scored tokens.** Only voice tokens (pitch or REST), never BOS, EOS or padding. The models'
  softmax is over all {data.VOCAB_SIZE} tokens and is not renormalised.
- **Context.** Chorales have 100 to 640 sixteenth steps, 402 to 2,562 tokens. The Transformers
  train on windows of {t.seq_len} tokens and are scored on windows of the same length (learned
  positions do not extend past it): a chorale that fits is scored with full left context from
  its start; a longer one with windows {stride} tokens apart, each scoring only the targets the
  previous window had not reached, so every token keeps at least {t.seq_len - stride} tokens
  ({(t.seq_len - stride) // 4} steps) of left context. The LSTM trains on the same kind of
  windows and is scored on each chorale whole, from its start.
- **Windows.** Training windows start at a step boundary (BOS or the bass of a step) inside one
  chorale, so window position p always predicts voice p mod 4 and a learned position embedding
  means the same thing in training and scoring; chorales are drawn in proportion to their
  length; the loss covers the voice tokens and EOS.
- **Training.** AdamW with warmup and cosine decay, gradient clipping, weight decay 0.01: the
  library's optimizer, jitted steps and training loop (`symbolic.training.trainer`: `compile_steps`,
  `TrainLoop`). Validation NLL every {t.eval_every} steps, {_patience(t)}; the best validation
  parameters are scored on valid and test. Seed 0, one run per model.
- **n-gram baselines**, reproducing the figures measured on this split to 2 decimals:
  {_ngram_text()}"""


def _training_section(r: dict, settings, runs: dict) -> str:
    return f"""## Models and training

{training_table(r, settings, runs)}

Times are wall-clock seconds on the machine above, which other jobs shared."""


def _augmentation(settings) -> str:
    if settings.transpose <= 0:
        return "none in this run."
    return (
        f"each training chorale and its transpositions by up to +-{settings.transpose} "
        "semitones whose pitches stay inside the vocabulary's range (so the vocabulary is "
        "the same), drawn in proportion to their length."
    )


def _still(r: dict, name: str, t) -> str:
    if r[f"{name}_best_step"] == r[f"{name}_steps"] == t.steps:
        return (
            "its best validation NLL came at the last evaluation, so it was still improving "
            "when the schedule ended: a budget-limited figure, not a converged one"
        )
    return f"its validation NLL stopped improving at step {r[f'{name}_best_step']}"


def _positions_compared(r: dict) -> str:
    """The Transformers' valid NLL against the best one's, for the parts present."""
    best = r["transformer_best"]
    others = [
        f"{MODEL_LABELS[name]} {r[f'valid_nll_{name}'] - r['valid_nll_transformer']:+.3f}"
        for name in ("relative", "rope", "learned")
        if name != best and _ran(r, name)
    ]
    if not others:
        return ""
    return (
        "On valid, against it: " + "; ".join(others) + ". The paper's absolute-position baseline "
        "reached 0.417, 0.082 behind its relative model."
    )


def _patience(t) -> str:
    if t.patience <= 0:
        return "no early stopping"
    return f"early stopping after {t.patience} evaluations without improvement"


def _curves_line(r: dict) -> str:
    if not any(key.startswith("valid_curve_") for key in r):
        return "Learning curves: none stored yet (each part stores its own when it runs)."
    return "![learning curves: validation NLL over steps](learning_curves.png)"


def _ngram_line(r: dict) -> str:
    if "ngram_best" not in r:
        return _not_run("ngram")
    return (
        f"The best n-gram on valid is `{r['ngram_best']}` (`valid_nll_ngram` / "
        f"`test_nll_ngram`); a neural model that does not beat it is not working. {_beats(r)}"
    )


def _beats(r: dict) -> str:
    names = [name for name in MODEL_LABELS if _ran(r, name)]
    if not names or "valid_nll_ngram" not in r:
        return ""
    losers = [
        MODEL_LABELS[name] for name in names if r[f"valid_nll_{name}"] >= r["valid_nll_ngram"]
    ]
    if losers:
        return f"**Not beaten by: {', '.join(losers)}.**"
    on_test = all(r[f"test_nll_{name}"] < r["test_nll_ngram"] for name in names)
    return f"Every neural model run beats it on valid{' and test' if on_test else ''}."


def _ngram_text() -> str:
    return (
        f"Outcomes are the {ngram.NUM_OUTCOMES} voice tokens, one table for all four voices. "
        "Unigram: add-one smoothed training frequencies, every voice token scored. Same-voice "
        "bigram: P(x[t, v] | x[t-1, v]); bigram + voice above: P(x[t, v] | x[t-1, v], "
        "x[t, v-1]), the soprano conditioned on its previous step only. Both bigrams use "
        f"add-{ngram.ALPHA} smoothing and score every step except each chorale's first (no "
        "previous step): 75,292 of the 75,600 test tokens. The bigram + above figure is mildly "
        "sensitive to the smoothing: 0.884 to 0.892 on test for alpha from 0.02 to 0.2."
    )
