"""results.md: where and how it ran, the metrics per source, the comparison with the real set,
and the choices behind them."""

from __future__ import annotations

from benchmarks.common import load_line, markdown_table
from symbolic.music.metrics import METRICS

SOURCES = (
    "real",
    "transformer",
    "transformer_top_p",
    "tuned",
    "lstm",
    "ngram",
    "random",
    "random_tokens",
)
GENERATED = SOURCES[1:]
# (real excerpts, the source measured against them)
EXCERPTS = (("real_soprano_2bar", "vae_prior"), ("real_satb_4bar", "gan"))
# samples of our trained models (not real music, random notes or tokens, n-grams)
GENERATED_MODELS = ("transformer", "transformer_top_p", "tuned", "lstm", "vae_prior", "gan")
# Measured on music21's chorales by the team (issue 5): (real chorales, uniform random notes).
REFERENCE = {
    "pitch_class_entropy": (2.98, 3.55),
    "scale_consistency": (0.93, 0.63),
    "groove_consistency": (0.80, 0.59),
    "polyphony": (3.95, None),
}
UNITS = {
    "pitch_class_entropy": "bits",
    "pitch_range": "semitones",
    "polyphony": "pitches",
    "note_density": "notes / quarter",
}


def _mean_std(source: dict, name: str) -> str:
    return f"{source[name]:.3f} ± {source[f'{name}_std']:.3f}"


def compared(results: dict) -> list[str]:
    """The sources compared with a real set, in table order."""
    order = [*GENERATED, *(source for _, source in EXCERPTS)]
    return [s for s in order if "metrics_in_band" in results.get(s, {})]


def present(results: dict, sources: tuple[str, ...]) -> tuple[str, ...]:
    """The sources this run measured (`--models` may leave one out)."""
    return tuple(s for s in sources if s in results)


def metrics_table(results: dict, sources: tuple[str, ...] = SOURCES) -> str:
    sources = present(results, sources)
    rows = [
        [f"{name} ({UNITS[name]})" if name in UNITS else name]
        + [_mean_std(results[s], name) for s in sources]
        for name in METRICS
    ]
    rows.append(["pieces"] + [results[s]["pieces"] for s in sources])
    return markdown_table(["metric", *sources], rows)


def comparison_table(
    results: dict, reference: str = "real", generated: tuple[str, ...] = GENERATED
) -> str:
    generated = present(results, generated)
    real = results[reference]
    rows = []
    for name in METRICS:
        row = [
            name,
            f"{real[f'{name}_oa_low']:.2f}–{real[f'{name}_oa_high']:.2f}",
            f"{real[f'{name}_kl_low']:.3f}–{real[f'{name}_kl_high']:.3f}",
        ]
        for s in generated:
            mark = "in" if results[s][f"{name}_in_band"] else "out"
            row.append(f"{results[s][f'{name}_oa']:.2f} / {results[s][f'{name}_kl']:.3f} {mark}")
        rows.append(row)
    rows.append(
        ["metrics in band", "", ""]
        + [f"{results[s]['metrics_in_band']} / {len(METRICS)}" for s in generated]
    )
    rows.append(
        ["mean OA", f"{_band_mean_oa(real):.2f}", ""]
        + [f"{results['overlap_area_mean'][s]:.2f}" for s in generated]
    )
    return markdown_table(["metric", "band OA", "band KL", *generated], rows)


def _band_mean_oa(real: dict) -> float:
    return sum(real[f"{name}_oa"] for name in METRICS) / len(METRICS)


def _inside_line(results: dict) -> str:
    return ", ".join(f"{s} {n} / {len(METRICS)}" for s, n in results["inside_band"].items())


def tuning_table(results: dict) -> str:
    """The grid of sampling settings scored on the valid works."""
    tuned = results["sampling_tuning"]
    cells = sorted(k[: -len("_in_band")] for k in tuned if k.endswith("_in_band"))
    rows = []
    for cell in cells:
        temperature, top_p = cell[1:].split("_p")
        chosen = float(temperature) == tuned["temperature"] and float(top_p) == tuned["top_p"]
        rows.append(
            [temperature, top_p, f"{tuned[f'{cell}_in_band']} / {len(METRICS)}"]
            + [f"{tuned[f'{cell}_mean_oa']:.3f}", "**chosen**" if chosen else ""]
        )
    return markdown_table(["temperature", "top-p", "in valid band", "mean OA", ""], rows)


def excerpt_section(results: dict) -> str:
    """The VAE's and GAN's samples against real excerpts of their own form."""
    parts = []
    for reference, source in EXCERPTS:
        pair = (reference, source)
        parts.append(f"### {source} against {reference}\n\n{metrics_table(results, pair)}")
        parts.append(comparison_table(results, reference, (source,)))
    return "\n\n".join(parts)


def reference_table(results: dict) -> str:
    rows = []
    for name, (real, random) in REFERENCE.items():
        ours = results["real"]
        rows.append(
            [
                name,
                real,
                f"{ours[name]:.3f} (median {ours[f'{name}_median']:.3f})",
                "" if random is None else random,
                f"{results['random'][name]:.3f}",
            ]
        )
    headers = ["metric", "reference: real", "ours: real", "reference: random", "ours: random"]
    return markdown_table(headers, rows)


def _chorale_runs(results: dict) -> str:
    """The chorale runs sampled, with their best validation NLL (nats/token)."""
    runs = [
        f"`{results[f'{m}_run']}` (best validation NLL {results[f'{m}_valid_nll']:.3f})"
        for m in ("transformer", "lstm")
        if f"{m}_run" in results
    ]
    return " and ".join(runs) + ("" if "lstm_run" in results else " (the LSTM left out)")


def header(results: dict) -> str:
    tuned = results["sampling_tuning"]
    works = "the first 24 held-out chorales" if results["quick"] else "every held-out chorale"
    scope = (
        f"{'quick' if results['quick'] else 'full'}: {works}, {results['pieces_per_source']}"
        f" pieces per generated source, {tuned['pieces_per_setting']} per tuning setting"
    )
    return f"""# music_metrics

- Command: `{results["command"]}` ({scope}; {results["band_splits"]} seeded half splits; seed
  {results["seed"]}; {results["wall_s"]:.0f} s in all).
- Device: {results["devices"]} ({results["cpu_count"]} cores, {results["processor"]}).
- Versions: jax {results["jax_version"]}, numpy {results["numpy_version"]}, music21
  {results["music21_version"]}, miditok {results["miditok_version"]}, symusic
  {results["symusic_version"]}; commit {results["git_commit"]}.
- Runs sampled: {_chorale_runs(results)}; **tuned**: `{results["tuned_run"]}` at temperature
  {tuned["temperature"]}, top-p {tuned["top_p"]} (chosen on {tuned["valid_works"]} valid works);
  `{results["vae_prior_run"]}` (VAE, {results["vae_prior_steps"]} steps) and
  `{results["gan_run"]}` (GAN, {results["gan_steps"]} steps: a short budget, the preset's is
  1,200).
- {load_line(results)}"""


def markdown(results: dict) -> str:
    return f"""{header(results)}

## Sources

- **real**: held-out chorales (the valid and test works of `data_manifests/bach_chorales.json`),
  converted as `symbolic prepare` converts them (music21 -> MIDI, one track per voice).
- **transformer**, **lstm**: the runs named above, sampled as `symbolic generate` does by default
  (from BOS, temperature 1, no top-k, no top-p, grammar mask), up to {results["max_tokens"]} new
  tokens: the median length of the held-out chorales in REMI tokens, so pieces are about as
  long as the real ones. Decoded by the run's tokenizer. **transformer_top_p**: the same
  Transformer with top-p 0.95 (the demo's setting). **tuned**: the run with the lowest
  validation NLL (or `--best-run`) at the temperature and top-p chosen on the valid works (below).
- **vae_prior**: `symbolic vae sample` melodies (z ~ N(0, I), greedy decoding) of the 2-bar
  soprano VAE, measured against **real_soprano_2bar**: {results["real_soprano_2bar"]["pieces"]}
  held-out (valid + test) 2-bar soprano segments, seeded, through the same events -> MIDI path.
- **gan**: `symbolic gan sample` phrases (threshold 0.5) of the 4-bar SATB GAN, measured against
  **real_satb_4bar**: {results["real_satb_4bar"]["pieces"]} held-out 4-bar SATB phrases, seeded,
  untransposed, converted from the piano roll alone as the GAN's are (repeated notes merge).
  Excerpts are measured against excerpts of the same form, never against whole chorales: pitch
  range, pitch classes used and note counts grow with a piece's length.
- **ngram**: a bigram LM over the REMI training stream, P(next | previous token), add-0.01
  smoothed counts, sampled by the same sampler under the same grammar mask and length.
- **random**: uniform random *notes* (the issue's reference figures are for random notes): one
  piece per real piece, with its note count, length and time signatures; pitch uniform over the
  real set's pitch range, onset uniform on the 16th grid, duration 1 to 8 sixteenths.
- **random_tokens**: uniformly random *tokens* among those the grammar allows at each step, same
  sampler and length (every stream decodes; EOS is allowed after any note, so pieces vary).

## Metrics per source (mean ± std over pieces)

{metrics_table(results)}

The issue's reference figures for music21's chorales beside ours:

{reference_table(results)}

Our real-chorale figures agree with the reference. The polyphony mean sits above the median
because a few held-out works carry instrumental parts beyond SATB (polyphony 4.5 to 5.6). Random
notes' groove consistency depends on how densely their onsets fill the 16th grid, which the
reference does not specify: ours have as many notes as the real piece they copy (so their note
density matches the real set's by construction).

## Against the real chorales (Yang & Lerch 2018; OA as their `mgeval` overlap area)

Per metric, OA / KL of the intra-set distances of a real half A against the inter-set distances
between A and the source (means over the {results["band_splits"]} splits). The band is what half
B of the real set gets against half A over the same splits (OA range, KL range). **in**: OA at
least the band's lowest and KL at most its highest.

{comparison_table(results)}

Inside the band, per source: {_inside_line(results)}. Generated by our trained models:
{", ".join(f"`{s}`" for s in results["generated_sources"])}.

**tuned** against the test works alone (the works its sampling settings never saw; band from
the test works' own halves): {results["tuned_test_only"]["metrics_in_band"]} / {len(METRICS)}
metrics inside.

### Sampling settings, chosen on the validation works

Each setting draws pieces from `{results["tuned_run"]}` (seed + 1, so not the reported draws),
compared with the {results["sampling_tuning"]["valid_works"]} valid works' half-vs-half band;
the most metrics inside wins, ties broken by the mean OA. The test works play no part.

{tuning_table(results)}

## The VAE's prior and the GAN, against real excerpts of their form

{excerpt_section(results)}

## Definitions and choices

Metric definitions are in `symbolic/music/metrics.py` (MusPy's unless said): pitch-class
entropy in bits over a 12-bin histogram of notes; scale consistency over the 24 major and
natural-minor scales; pitch range in semitones; polyphony as the mean number of distinct pitches
sounding where at least one sounds (exact on tick intervals; unisons count once); note density
in notes per quarter note; groove consistency on a 16th grid, bars from the time signatures,
counted as MusPy does (the bar starting at the last note's end included): MusPy's own function
gives this figure only after resampling to 16ths, and at a file's native resolution reads
0.07-0.16 higher (near 1.0), since every tick is a grid step there
(`tests/test_muspy_agreement.py`); empty-beat rate over quarter-note beats, a note sounding
in the beats its half-open interval overlaps (MusPy also counts the beat in which a note
ends). Drum tracks are ignored. OA and KL(intra || inter) use Gaussian KDEs with Scott's
bandwidth on a 2,048-point grid. A metric undefined for a piece (e.g. groove with one bar) is
left out for that piece.
"""
