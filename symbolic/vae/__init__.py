"""What a trained MusicVAE run is for: encode MIDI to latents, sample, interpolate, vary, attribute
vectors, similarity search and evaluation. The CLI's `symbolic vae ...` commands only wire these.

Latents are the posterior means mu [N, Z] of a file's bar-aligned melody segments (see
`symbolic.data.segments`); decoding is greedy unless a temperature is given.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from symbolic.data import segments as seg
from symbolic.models import vae
from symbolic.models.vae import VAEConfig
from symbolic.train import checkpoint
from symbolic.train.config import RunConfig

CHUNK = 64  # fixed batch for jitted encode/decode, so varying counts do not recompile
ATTRIBUTES_FILE = "attributes.npz"


@dataclass(frozen=True)
class VAERun:
    """A trained run: its config, parameters and the segments' meta.json."""

    run_dir: Path
    config: RunConfig
    params: Any
    meta: dict

    @property
    def model(self) -> VAEConfig:
        return self.config.model


def load_vae(run_dir: str | Path, which: str = "best") -> VAERun:
    """The VAE run in RUN_DIR (its `which` checkpoint)."""
    config, params, meta = checkpoint.load_run(Path(run_dir), which)
    if config.model_name != "vae":
        raise ValueError(f"{run_dir}: holds a {config.model_name!r} model, not a VAE")
    return VAERun(Path(run_dir), config, params, meta)


@functools.lru_cache(maxsize=8)
def _jitted(config: VAEConfig):
    encode = jax.jit(functools.partial(vae.encode, config))
    sample = jax.jit(functools.partial(vae.sample, config), static_argnames="temperature")
    return encode, sample


def _chunks(array: np.ndarray):
    """Yield (padded chunk [CHUNK, ...], number of real rows)."""
    for first in range(0, len(array), CHUNK):
        part = array[first : first + CHUNK]
        padded = np.zeros((CHUNK, *array.shape[1:]), array.dtype)
        padded[: len(part)] = part
        yield padded, len(part)


def encode_segments(run: VAERun, segments: np.ndarray) -> np.ndarray:
    """segments [N, T] int32 -> posterior means mu [N, Z] float32."""
    encode, _ = _jitted(run.model)
    out = [np.asarray(encode(run.params, chunk)[0])[:n] for chunk, n in _chunks(segments)]
    return np.concatenate(out) if out else np.zeros((0, run.model.latent_dim), np.float32)


def decode_latents(
    run: VAERun, z: np.ndarray, *, seed: int = 0, temperature: float = 0.0
) -> np.ndarray:
    """z [N, Z] -> events [N, T] int32 (greedy at temperature 0)."""
    _, sample = _jitted(run.model)
    out = []
    for i, (chunk, n) in enumerate(_chunks(np.asarray(z, np.float32))):
        key = jax.random.fold_in(jax.random.PRNGKey(seed), i)
        out.append(np.asarray(sample(run.params, chunk, key, temperature=temperature))[:n])
    return np.concatenate(out) if out else np.zeros((0, run.model.seq_len), np.int32)


def file_segments(run: VAERun, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A MIDI or score file's melody segments as the run's data were cut:
    (segments [N, T] int32, first bars [N] int32); an error if it has none."""
    from symbolic.data.convert import load_score

    score = load_score(path)
    segments, bars = seg.score_segments(
        score, int(run.meta["bars"]), int(run.meta["melody_program"])
    )
    if len(segments) == 0:
        raise ValueError(f"{path}: no 4/4 melody segment with notes to encode")
    return segments, bars


def encode_files(run: VAERun, paths: list[str | Path], out: str | Path) -> dict[str, np.ndarray]:
    """Encode every file's segments; write OUT (npz): mu [N, Z], file_id [N] (index into files),
    bar [N], files [F] (paths), run_dir."""
    mus, files, bars = [], [], []
    for i, path in enumerate(paths):
        segments, first_bars = file_segments(run, path)
        mus.append(encode_segments(run, segments))
        files.append(np.full(len(segments), i, np.int32))
        bars.append(first_bars)
    index = {
        "mu": np.concatenate(mus),
        "file_id": np.concatenate(files),
        "bar": np.concatenate(bars),
        "files": np.asarray([str(p) for p in paths]),
        "run_dir": np.asarray(str(run.run_dir)),
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **index)
    return index


def write_midis(
    events: np.ndarray, out_dir: str | Path, prefix: str, *, render: bool = False
) -> list[Path]:
    """One MIDI per row of events [N, T] as OUT_DIR/{prefix}_{i:03d}.mid (+ WAV if render)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, row in enumerate(events):
        path = out_dir / f"{prefix}_{i:03d}.mid"
        seg.events_to_score(row).dump_midi(str(path))
        paths.append(path)
    if render:
        render_beside(paths)
    return paths


def render_beside(paths: list[str | Path]) -> list[Path]:
    """A WAV beside each file (FluidSynth): MIDI as it is, a notated score (e.g. .mxl) through
    its MIDI conversion. Returns the WAV paths."""
    import tempfile

    from symbolic.data.convert import file_kind, load_score
    from symbolic.output.render import render as render_wav

    wavs = []
    for path in map(Path, paths):
        if file_kind(path) == "midi":
            wavs.append(render_wav(path, path.with_suffix(".wav")))
            continue
        with tempfile.TemporaryDirectory(prefix="symbolic-vae-") as tmp:
            midi = Path(tmp) / "score.mid"
            load_score(path).dump_midi(str(midi))
            wavs.append(render_wav(midi, path.with_suffix(".wav")))
    return wavs


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between latents a, b [Z] (lerp when they are parallel)."""
    cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolate_latents(a: np.ndarray, b: np.ndarray, steps: int, method: str = "slerp"):
    """[steps, Z] from a to b inclusive."""
    ts = np.linspace(0.0, 1.0, steps)
    if method == "lerp":
        return np.stack([(1 - t) * a + t * b for t in ts]).astype(np.float32)
    return np.stack([slerp(a, b, t) for t in ts]).astype(np.float32)


# --- attributes --------------------------------------------------------------------------------


def attribute_values(events: np.ndarray) -> dict[str, np.ndarray]:
    """Measured attributes of events [N, T]: density (note onsets per 16th step), mean pitch
    (MIDI, NaN for silent rows), syncopation (fraction of onsets off the quarter-note beat)."""
    events = np.asarray(events)
    onsets = events >= seg.FIRST_PITCH
    count = onsets.sum(axis=1)
    pitch = np.where(onsets, events - seg.FIRST_PITCH, 0).sum(axis=1)
    off_beat = (onsets & (np.arange(events.shape[1]) % seg.STEPS_PER_QUARTER != 0)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "density": count / events.shape[1],
            "mean_pitch": np.where(count > 0, pitch / np.maximum(count, 1), np.nan),
            "syncopation": np.where(count > 0, off_beat / np.maximum(count, 1), 0.0),
        }


ATTRIBUTE_NAMES = ("density", "mean_pitch", "syncopation")


def attribute_vector(mu: np.ndarray, values: np.ndarray) -> np.ndarray:
    """MusicVAE's attribute vector: mean latent of the top quartile of `values` minus that of the
    bottom quartile. mu [N, Z], values [N] -> [Z]."""
    ok = np.isfinite(values)
    mu, values = mu[ok], values[ok]
    low, high = np.quantile(values, [0.25, 0.75])
    top, bottom = mu[values >= high], mu[values <= low]
    if len(top) == 0 or len(bottom) == 0 or high == low:
        raise ValueError("the attribute does not vary over these segments")
    return top.mean(axis=0) - bottom.mean(axis=0)


def compute_attributes(
    run: VAERun, data_dir: str | Path | None = None, max_segments: int = 4096
) -> dict[str, np.ndarray]:
    """Attribute vectors over (up to `max_segments` of) the run's training segments, saved as
    RUN_DIR/attributes.npz {name: [Z]}."""
    data_dir = data_dir or run.meta.get("data_dir")
    if data_dir is None:
        raise ValueError("the run's meta.json names no data_dir; pass --data SEGMENTS_DIR")
    segments = seg.load_segments(data_dir, "train")["segments"][:max_segments]
    mu = encode_segments(run, segments)
    values = attribute_values(segments)
    vectors = {name: attribute_vector(mu, values[name]) for name in ATTRIBUTE_NAMES}
    np.savez(run.run_dir / ATTRIBUTES_FILE, **vectors)
    return vectors


def attribute_examples(
    run: VAERun,
    vectors: dict[str, np.ndarray],
    out_dir: str | Path,
    amounts: tuple[float, ...] = (-2.0, -1.0, 0.0, 1.0, 2.0),
    *,
    render: bool = False,
) -> list[Path]:
    """To hear what a vector does: the prior mean moved by each of `amounts` times each vector,
    decoded; OUT_DIR/{name}_{i:03d}.mid is `amounts[i]` (+ WAV if render)."""
    paths = []
    for name, vector in vectors.items():
        z = np.asarray(amounts, np.float32)[:, None] * vector[None, :]
        paths += write_midis(decode_latents(run, z), out_dir, name, render=render)
    return paths


def load_attributes(run: VAERun) -> dict[str, np.ndarray]:
    """RUN_DIR/attributes.npz, computed first if missing."""
    path = run.run_dir / ATTRIBUTES_FILE
    if not path.is_file():
        return compute_attributes(run)
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def parse_attribute_shifts(specs: list[str]) -> dict[str, float]:
    """["density=+1.5", "mean_pitch=-1"] -> {"density": 1.5, "mean_pitch": -1.0}."""
    out = {}
    for spec in specs:
        name, sep, amount = spec.partition("=")
        if not sep or name not in ATTRIBUTE_NAMES:
            raise ValueError(f"--attribute {spec}: expected NAME=AMOUNT, NAME in {ATTRIBUTE_NAMES}")
        out[name] = float(amount)
    return out


def apply_attributes(z: np.ndarray, vectors: dict[str, np.ndarray], shifts: dict[str, float]):
    """z [N, Z] moved by amount * vector for each requested attribute."""
    for name, amount in shifts.items():
        z = z + amount * vectors[name][None, :]
    return z.astype(np.float32)


# --- commands ----------------------------------------------------------------------------------


def _with_attributes(run: VAERun, z: np.ndarray, specs: list[str]) -> np.ndarray:
    """z [N, Z] shifted by `--attribute NAME=AMOUNT` specs (vectors computed on first use)."""
    shifts = parse_attribute_shifts(list(specs))
    return apply_attributes(z, load_attributes(run), shifts) if shifts else z


def _encode_segment(run: VAERun, path: str | Path, segment: int) -> np.ndarray:
    """mu [1, Z] of segment number `segment` of a file."""
    return encode_segments(run, file_segments(run, path)[0][segment : segment + 1])


def sample_command(
    run: VAERun,
    num: int,
    out_dir: str | Path,
    *,
    seed: int = 0,
    temperature: float = 0.0,
    attributes: list[str] = (),
    render: bool = False,
) -> list[Path]:
    """`num` melodies decoded from z ~ N(0, I), optionally shifted along attribute vectors."""
    z = np.random.default_rng(seed).standard_normal((num, run.model.latent_dim))
    z = _with_attributes(run, z, attributes)
    events = decode_latents(run, z, seed=seed, temperature=temperature)
    return write_midis(events, out_dir, "sample", render=render)


def interpolate_command(
    run: VAERun,
    a: str | Path,
    b: str | Path,
    steps: int,
    out_dir: str | Path,
    *,
    method: str = "slerp",
    segment: int = 0,
    render: bool = False,
) -> list[Path]:
    """One MIDI per step from segment `segment` of A to that of B (ends included)."""
    za, zb = _encode_segment(run, a, segment)[0], _encode_segment(run, b, segment)[0]
    events = decode_latents(run, interpolate_latents(za, zb, steps, method))
    return write_midis(events, out_dir, "interp", render=render)


def vary_command(
    run: VAERun,
    path: str | Path,
    amount: float,
    num: int,
    out_dir: str | Path,
    *,
    seed: int = 0,
    segment: int = 0,
    attributes: list[str] = (),
    render: bool = False,
) -> list[Path]:
    """`num` variations of one segment of IN: z = mu + amount * N(0, I) (+ attribute shifts)."""
    mu = _encode_segment(run, path, segment)
    noise = np.random.default_rng(seed).standard_normal((num, mu.shape[1]))
    z = _with_attributes(run, mu + amount * noise, attributes)
    return write_midis(decode_latents(run, z, seed=seed), out_dir, "vary", render=render)


# --- similarity --------------------------------------------------------------------------------


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _aligned_score(sims: np.ndarray, query_bars: np.ndarray, file_bars: np.ndarray) -> float:
    """sims [S, Q, F]: cosines of S transpositions of the Q query segments against one file's F
    segments. The best, over transpositions and bar offsets, of the summed cosine of the pairs
    that line up bar for bar (query bar b + offset = file bar), divided by Q."""
    offsets = file_bars[None, :] - query_bars[:, None]  # [Q, F]
    best = -np.inf
    for offset in np.unique(offsets):
        aligned = np.where(offsets == offset, sims, 0.0).sum(axis=(1, 2)) / len(query_bars)
        best = max(best, float(aligned.max()))
    return best


def rank_files(
    query_mu: np.ndarray, query_bars: np.ndarray, index: dict, k: int = 5
) -> list[tuple[str, float]]:
    """Files of `index` ranked by similarity to query segment means [S, Q, Z] (S transpositions
    of the query's Q segments, first bars [Q]): the query is laid along each file at its best bar
    offset and transposition (see `_aligned_score`). Matching segments in order, rather than each
    to its nearest anywhere in the file, keeps a file whose segments happen to lie near many
    latents from ranking first for every query. Means are centred on the index mean first, so the
    offset they all share does not dominate cosine."""
    centre = index["mu"].mean(axis=0)
    sims = _unit(query_mu - centre) @ _unit(index["mu"] - centre).T  # [S, Q, N]
    scores = []
    for i, name in enumerate(index["files"]):
        cols = index["file_id"] == i
        score = _aligned_score(sims[..., cols], np.asarray(query_bars), index["bar"][cols])
        scores.append((str(name), score))
    return sorted(scores, key=lambda s: -s[1])[:k]


def similar_command(
    query: str | Path,
    index_path: str | Path,
    k: int = 5,
    run_dir: str | Path | None = None,
    max_transpose: int = 6,
) -> list[tuple[str, float]]:
    """Nearest files of an `encode` index to QUERY, encoded with the index's run. The query is
    also tried transposed by up to +-`max_transpose` semitones: a melody's latent is not
    transposition-invariant, but "the same tune in another key" should still be found."""
    with np.load(index_path) as data:
        index = {key: data[key] for key in data.files}
    run = load_vae(run_dir or str(index["run_dir"]))
    segments, bars = file_segments(run, query)
    shifts = range(-max_transpose, max_transpose + 1)
    query_mu = np.stack([encode_segments(run, seg.transpose_events(segments, s)) for s in shifts])
    return rank_files(query_mu, bars, index, k)


# --- evaluation --------------------------------------------------------------------------------


def reconstruction_metrics(run: VAERun, segments: np.ndarray) -> dict[str, float]:
    """MusicVAE's metrics on segments [N, T]: teacher-forced and sampled (greedy, from mu)
    reconstruction accuracy (fraction of steps reproduced), KL nats per segment, and the active
    latent dims (Cov over segments of E[z|x] above 0.01: posterior collapse shows as few)."""
    model = vae.MusicVAE(run.model)
    apply = jax.jit(lambda p, x: model.apply({"params": p}, x))
    tf_correct, kls = [], []
    for chunk, n in _chunks(segments):
        logits, mu, logvar = apply(run.params, chunk)
        tf_correct.append(np.asarray(jnp.argmax(logits, -1) == chunk)[:n])
        kls.append(np.asarray(vae.kl_divergence(mu, logvar))[:n])
    mu = encode_segments(run, segments)
    sampled = decode_latents(run, mu)
    active = int((np.var(mu, axis=0) > 0.01).sum())
    return {
        "recon_acc_teacher_forced": float(np.concatenate(tf_correct).mean()),
        "recon_acc_sampled": float((sampled == segments).mean()),
        "segment_exact_sampled": float((sampled == segments).all(axis=1).mean()),
        "kl_per_segment": float(np.concatenate(kls).mean()),
        "active_dims": active,
        "active_dims_fraction": active / run.model.latent_dim,
        "segments": len(segments),
    }


def evaluate_run(
    run_dir: str | Path,
    split: str = "test",
    data_dir: str | Path | None = None,
    *,
    examples_dir: str | Path | None = None,
    num_examples: int = 4,
    render: bool = False,
) -> dict:
    """`reconstruction_metrics` on a held-out split, appended to RUN_DIR/metrics.jsonl. With
    `examples_dir`, the first `num_examples` segments and their sampled reconstructions are
    written there as input_NNN.mid / recon_NNN.mid (+ WAV if render), to be heard."""
    run = load_vae(run_dir)
    data_dir = data_dir or run.meta.get("data_dir")
    if data_dir is None:
        raise ValueError("the run's meta.json names no data_dir; pass --data SEGMENTS_DIR")
    segments = seg.load_segments(data_dir, split)["segments"]
    metrics = {"event": "vae_eval", "split": split, **reconstruction_metrics(run, segments)}
    with (Path(run_dir) / "metrics.jsonl").open("a") as f:
        f.write(json.dumps(metrics) + "\n")
    if examples_dir is not None:
        inputs = segments[:num_examples]
        recons = decode_latents(run, encode_segments(run, inputs))
        write_midis(inputs, examples_dir, "input", render=render)
        write_midis(recons, examples_dir, "recon", render=render)
    return metrics
