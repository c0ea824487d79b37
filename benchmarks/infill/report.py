"""results.md of the infill benchmark: one table of NLL and smooth landings per variant."""

from __future__ import annotations

import math

from benchmarks.common import load_line, markdown_table


def _cell(value) -> object:
    return "-" if value is None else value


def _percent(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def _setup(name: str, v: dict) -> str:
    """One line per variant: its overrides, the budget it was scored at, its command."""
    return (
        f"- `{name}`: `{v['overrides']}`; scored at its best checkpoint, step "
        f"{v['checkpoint_step']} ({v['train_steps']} of {v['train_steps_configured']} steps "
        f"trained; {v['train_wall_s'] / 60:.0f} min from the first start to the last log line, "
        f"pauses included, on the shared CPUs); valid NLL (plain LM "
        f"windows) {v['best_valid_nll']:.3f}; `{v['command']}` ({v['benchmark_wall_s'] / 60:.0f} "
        f"min, `{v['load_before']}` before, `{v['load_after']}` after)"
    )


def _information_table(r: dict, names: list[str]) -> str:
    """Per variant that has it: what the 2-bar suffix could tell about the middle, against
    the gain the variant draws from it."""
    rows = [
        [
            name,
            v["suffix_info_spans_2bar"],
            f"{v['suffix_info_floor_nats_2bar']:.2f}",
            f"{v['suffix_info_ceiling_nats_2bar']:.2f}",
            f"{_percent(v['suffix_gain_floor_2bar'])} .. {_percent(v['suffix_gain_ceiling_2bar'])}",
            _percent(v["suffix_gain_2bar"]),
        ]
        for name in names
        if "suffix_info_spans_2bar" in (v := r[f"variant_{name}"])
    ]
    if not rows:
        return ""
    header = ["variant", "spans", "floor, nats", "ceiling, nats", "gain it allows", "suffix gain"]
    return markdown_table(header, rows)


def render_markdown(r: dict, span_bars: tuple[int, ...], information_samples: int) -> str:
    names = [k.removeprefix("variant_") for k in r if k.startswith("variant_")]
    rows = []
    for name in names:
        v = r[f"variant_{name}"]
        for bars in span_bars:
            t = f"{bars}bar"
            rows.append(
                [
                    name,
                    bars,
                    v[f"spans_{t}"],
                    v[f"nll_with_suffix_{t}"],
                    v[f"nll_without_suffix_{t}"],
                    v[f"nll_plain_continuation_{t}"],
                    _percent(v[f"suffix_gain_{t}"]),
                    _percent(v.get(f"suffix_gain_last_bar_{t}")),
                    _cell(v[f"smooth_real_{t}"]),
                    _cell(v[f"smooth_generated_{t}"]),
                    f"{v[f'generated_middles_{t}']}/{v[f'generated_attempts_{t}']}",
                ]
            )
    table = markdown_table(
        [
            "variant",
            "bars",
            "spans",
            "NLL with suffix",
            "NLL empty suffix",
            "NLL plain continuation",
            "suffix gain",
            "suffix gain, last bar",
            "smooth: real",
            "smooth: generated",
            "generated completed",
        ],
        rows,
    )
    setups = "\n".join(_setup(name, r[f"variant_{name}"]) for name in names)
    information = _information_table(r, names)
    draw = r[f"variant_{names[0]}"]
    return f"""# infill

Does the fill-in-the-middle model (`--preset infill`: the demo Transformer, SPM order
`[FIM_SUFFIX] suffix [FIM_PREFIX] prefix middle [FIM_END]`, cuts on bars; `bar_count` was
measured at commit 74e71e6 with a `[FIM_BARS_N]` sentinel before the middle) use the bars after
the span? On each held-out chorale (valid + test works of
`data_manifests/bach_chorales.json`, remi tokenizer, as the demo prepares them) one span of
1, 2 and 4 bars at a seeded bar, with at least a bar before and after it. The real middle is
teacher-forced in the prompt generation builds (`symbolic.generation.infill.model_prompt`,
context cut by `context_budget`):

- **with suffix**: `[FIM_SUFFIX] suffix EOS [FIM_PREFIX] prefix middle`;
- **empty suffix**: `[FIM_SUFFIX] [FIM_PREFIX] prefix middle`, the same prefix tokens;
- **plain continuation**: `prefix middle`, no sentinels (the model as a language model).

NLL is nats per middle token (FIM_END excluded); suffix gain = 1 - with / empty (target: at least
10% for 2-bar spans), also over the middle's last bar alone (the bar that leads into the suffix;
"-" for variants scored before that column existed). **Smooth**: every voice (track) steps by
at most a fifth (7 semitones) from its last note in the middle into its first note of the
suffix; for the real middles of all spans, and for middles sampled by `infill.sample_middles`
(temperature 1, top-p 0.95; the first spans of each length, several samples each; the span
automaton forces the bar count).

{table}

**How much the suffix could tell** (2-bar spans, `measure.suffix_information`): the information
the visible suffix carries about the middle given the prefix, I(middle; suffix | prefix), in
nats per span, estimated with the variant's own plain language model from {information_samples}
middles it samples from each prefix. The Monte Carlo average of p(suffix | prefix) overestimates
it (the ceiling); counting the real middle among the samples underestimates it (the floor, at
most log {information_samples + 1} = {math.log(information_samples + 1):.1f} nats). Divided by
the middle's plain-continuation NLL, it bounds the suffix gain this model and context allow: a
gain target above the ceiling needs a better model of the music, not a better use of the suffix.

{information}

Variants (the `infill` preset plus these `--set` overrides; the top-level keys are
`{r["chosen_variant"]}`'s):

{setups}

A 256-token training window holds about 3.4 chorale bars (75 tokens a bar), so the training draw
puts 1 bar in {draw["train_span_bars_1"]:.0%} of middles, 2 in {draw["train_span_bars_2"]:.0%},
3 in {draw["train_span_bars_3"]:.0%} and 4 or more in {draw["train_span_bars_4_or_more"]:.0%}
(`fim.choose_span`: a start bar, then a stop among the later bars): mostly single bars, and a
4-bar span (about 300 tokens) is longer than any training window (its context is cut to a quarter
window). The last line of the table above is the load of the latest run merged in.

Device: {r["device"]} ({r["cpu_count"]} CPU cores, backend {r["backend"]}); jax \
{r["jax_version"]}, flax {r["flax_version"]}, commit {r["git_commit"]}.
{load_line(r)} The load changes the wall time, not the figures.
"""
