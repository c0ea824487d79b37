"""results.md: where and how it ran, the metrics per source, the comparison with the real set,
and the choices behind them."""

from __future__ import annotations

from benchmarks.common import markdown_table
from symbolic.music.metrics import METRICS

SOURCES = ("real", "transformer", "transformer_top_p", "lstm", "ngram", "random", "random_tokens")
GENERATED = SOURCES[1:]
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


def metrics_table(results: dict) -> str:
    rows = [
        [f"{name} ({UNITS[name]})" if name in UNITS else name]
        + [_mean_std(results[s], name) for s in SOURCES]
        for name in METRICS
    ]
    rows.append(["pieces"] + [results[s]["pieces"] for s in SOURCES])
    return markdown_table(["metric", *SOURCES], rows)


def comparison_table(results: dict) -> str:
    real = results["real"]
    rows = []
    for name in METRICS:
        row = [
            name,
            f"{real[f'{name}_oa_low']:.2f}–{real[f'{name}_oa_high']:.2f}",
            f"{real[f'{name}_kl_low']:.3f}–{real[f'{name}_kl_high']:.3f}",
        ]
        for s in GENERATED:
            mark = "in" if results[s][f"{name}_in_band"] else "out"
            row.append(f"{results[s][f'{name}_oa']:.2f} / {results[s][f'{name}_kl']:.3f} {mark}")
        rows.append(row)
    rows.append(
        ["metrics in band", "", ""]
        + [f"{results[s]['metrics_in_band']} / {len(METRICS)}" for s in GENERATED]
    )
    return markdown_table(["metric", "band OA", "band KL", *GENERATED], rows)


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


def header(results: dict) -> str:
    scope = (
        "quick: the first 24 held-out chorales, 12 pieces per generated source"
        if results["quick"]
        else "full: every held-out chorale, 64 pieces per generated source"
    )
    return f"""# music_metrics

- Command: `{results["command"]}` ({scope}; {results["band_splits"]} seeded half splits; seed
  {results["seed"]}; {results["wall_s"]:.0f} s in all).
- Device: {results["devices"]} ({results["cpu_count"]} cores, {results["processor"]}).
- Versions: jax {results["jax_version"]}, numpy {results["numpy_version"]}, music21
  {results["music21_version"]}, miditok {results["miditok_version"]}, symusic
  {results["symusic_version"]}; commit {results["git_commit"]}.
- Runs sampled: `{results["transformer_run"]}` (best validation NLL
  {results["transformer_valid_nll"]:.3f} nats/token) and `{results["lstm_run"]}`
  ({results["lstm_valid_nll"]:.3f})."""


def markdown(results: dict) -> str:
    return f"""{header(results)}

## Sources

- **real**: held-out chorales (the valid and test works of `data_manifests/bach_chorales.json`),
  converted as `symbolic prepare` converts them (music21 -> MIDI, one track per voice).
- **transformer**, **lstm**: the runs named above, sampled as `symbolic generate` does by default
  (from BOS, temperature 1, no top-k, no top-p, grammar mask), up to {results["max_tokens"]} new
  tokens: the median length of the held-out chorales in REMI tokens, so pieces are about as
  long as the real ones. Decoded by the run's tokenizer. **transformer_top_p**: the same
  Transformer with top-p 0.95 (the demo's setting).
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

## Against the real chorales (Yang & Lerch 2018)

Per metric, OA / KL of the intra-set distances of a real half A against the inter-set distances
between A and the source (means over the {results["band_splits"]} splits). The band is what half
B of the real set gets against half A over the same splits (OA range, KL range). **in**: OA at
least the band's lowest and KL at most its highest.

{comparison_table(results)}

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
