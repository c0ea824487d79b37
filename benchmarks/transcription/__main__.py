"""`python -m benchmarks.transcription [--quick] [--run RUN]`: our transcriber against Spotify's
basic-pitch 0.4.0 (its bundled ONNX model) on the same held-out audio, with mir_eval scores.

Sets (rendered here through FluidSynth at 44.1 kHz stereo, the first `--seconds` of each work):
  seen     Bach chorales of the manifest's test split, each with one of the GM programs the
           transcriber was trained on (its meta.json's, by default `synth.SEEN_PROGRAMS`);
  unseen   the same chorales with programs it never heard (`UNSEEN_PROGRAMS`);
  pop909   songs of POP909's test split rendered as piano (../shared/data/pop909).
Both systems read the same WAV files (ours resamples them to 16 kHz with librosa, basic-pitch to
22.05 kHz); the reference is the exact note list rendered. Speed: seconds of audio per second
of compute on this machine's 2 CPU cores, and peak resident memory, each measured in a fresh
process transcribing one long file (the seen set concatenated).

basic-pitch 0.4.0 declares TensorFlow with numpy < 2, which cannot live beside jax, so it is
installed without its dependencies: `install_basic_pitch()` (run by `--install-basic-pitch`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    REPO_ROOT,
    command_line,
    environment,
    load_average,
    load_line,
    markdown_table,
    peak_rss_mb,
    write_results,
)

OUT_DIR = Path(__file__).resolve().parent
WORK = REPO_ROOT / "runs" / "bench_transcription"
BACH = REPO_ROOT / "data_manifests" / "bach_chorales.json"
POP909 = REPO_ROOT.parent / "shared" / "data" / "pop909"
SAMPLE_RATE = 44100
ANCHORS = (
    ("Onsets and Frames (Hawthorne et al. 2018)", "MAESTRO piano", "note F1", 0.948),
    ("Kong et al. 2021 (high-resolution piano)", "MAESTRO piano", "note F1", 0.967),
    ("MT3 (Gardner et al. 2022)", "Slakh2100 mixes", "onset F1", 0.759),
    ("basic-pitch (Bittner et al. 2022)", "MAESTRO", "note F1, no offsets", 0.71),
)


def install_basic_pitch() -> None:
    """Install basic-pitch 0.4.0 beside jax: without its declared dependencies (TensorFlow,
    numpy < 2), plus onnxruntime and the light ones it really uses, so that it runs its bundled
    ONNX model. Equivalent to `pip install --no-deps basic-pitch==0.4.0` and `pip install
    onnxruntime librosa mir_eval pretty_midi resampy scipy scikit-learn`."""
    pip = [sys.executable, "-m", "pip", "install"]
    subprocess.run([*pip, "--no-deps", "basic-pitch==0.4.0"], check=True)
    light = [
        "onnxruntime",
        "librosa",
        "mir_eval",
        "pretty_midi",
        "resampy",
        "scipy",
        "scikit-learn",
    ]
    subprocess.run([*pip, *light], check=True)


def basic_pitch_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("basic-pitch")
    except PackageNotFoundError:
        return None


def _pieces(manifest_path: Path, count: int, programs: tuple[int, ...], seconds: float):
    """(id, notes, program) of the first `count` test works of a manifest, cut to `seconds`."""
    from symbolic.audio.dataset import work_notes
    from symbolic.audio.notes import merge_unisons
    from symbolic.data.manifest import load_manifest, source_root

    manifest = load_manifest(manifest_path)
    out = []
    for work in [w for w in manifest.works if w.split == "test"][:count]:
        notes = work_notes(work, source_root(manifest), None)
        notes = notes[notes[:, 0] < seconds]
        notes[:, 1] = np.minimum(notes[:, 1], seconds)
        out.append((work.id, merge_unisons(notes), programs[len(out) % len(programs)]))
    return out


def build_sets(
    count: int, seconds: float, seen_programs: tuple[int, ...]
) -> dict[str, list[tuple[str, Path, np.ndarray]]]:
    """Render every set once into WORK/audio (kept between runs); -> {set: [(id, wav, notes)]}."""
    from symbolic.audio import synth
    from symbolic.data.manifest import write_folder_manifest
    from symbolic.output.render import write_wav

    pop_manifest = WORK / "pop909_manifest.json"
    if not pop_manifest.is_file():  # the split `symbolic manifest --group-by top` gives
        write_folder_manifest(POP909, pop_manifest, name="pop909", group_by="top")
    specs = {
        "seen": (BACH, seen_programs),
        "unseen": (BACH, synth.UNSEEN_PROGRAMS),
        "pop909": (pop_manifest, (0,)),
    }
    sets = {}
    for name, (manifest, programs) in specs.items():
        rows = []
        for work_id, notes, program in _pieces(manifest, count, programs, seconds):
            wav = WORK / "audio" / name / f"{work_id.replace('/', '_')}-p{program}.wav"
            variant = synth.Variant(program=program, reverb=True)
            if not wav.is_file():
                rng = np.random.default_rng(0)
                audio = synth.render_notes(notes, variant, SAMPLE_RATE, None, rng)
                wav.parent.mkdir(parents=True, exist_ok=True)
                write_wav(wav, np.stack([audio, audio], axis=1), SAMPLE_RATE)
            rows.append((work_id, wav, notes))
        sets[name] = rows
    return sets


def ours(run):
    """A transcribe function: WAV path -> notes [N, 4], with our `TranscriberRun`."""
    from symbolic.audio.features import load_audio

    rate = run.params_features.sample_rate
    return lambda wav: run.transcribe_audio(load_audio(wav, rate))


def basic_pitch():
    """A transcribe function with basic-pitch's defaults and its bundled ONNX model."""
    import logging

    logging.getLogger().setLevel(logging.ERROR)  # its warnings about TF/TFLite not installed
    from basic_pitch import ICASSP_2022_MODEL_PATH
    from basic_pitch.inference import Model, predict

    model = Model(ICASSP_2022_MODEL_PATH)

    def transcribe(wav: Path) -> np.ndarray:
        _, _, events = predict(str(wav), model)
        rows = [(s, e, p, round(a * 127)) for s, e, p, a, _ in events]
        return np.asarray(rows, np.float64).reshape(-1, 4)

    return transcribe


def score_set(transcribe, rows) -> dict[str, float]:
    """Mean mir_eval scores over a set's pieces, and seconds of audio per compute second."""
    from symbolic.audio.features import FeatureParams
    from symbolic.transcription.evaluation import mean_scores, score_piece

    fps = FeatureParams().frames_per_second  # frame scores on one 20 ms grid for both
    records, audio_s, compute_s = [], 0.0, 0.0
    for _, wav, reference in rows:
        began = time.perf_counter()
        estimate = transcribe(wav)
        compute_s += time.perf_counter() - began
        seconds = _duration(wav)
        audio_s += seconds
        records.append(score_piece(reference, estimate, int(seconds * fps) + 1, fps))
    return {**mean_scores(records), "realtime_factor": audio_s / compute_s}


def _duration(wav: Path) -> float:
    import soundfile

    return soundfile.info(str(wav)).duration


def measure(system: str, wav: Path, run_dir: Path) -> dict:
    """In this (fresh) process: one warm-up on a short file, then the real-time factor and the
    peak resident memory of transcribing `wav`."""
    from symbolic.transcription.run import load_transcriber

    transcribe = ours(load_transcriber(run_dir)) if system == "ours" else basic_pitch()
    transcribe(sorted((WORK / "audio" / "seen").glob("*.wav"))[0])  # compile / load once
    began = time.perf_counter()
    notes = transcribe(wav)
    elapsed = time.perf_counter() - began
    return {
        "realtime_factor": _duration(wav) / elapsed,
        "peak_memory_mb": peak_rss_mb(),
        "notes": len(notes),
        "seconds": _duration(wav),
    }


def long_file(rows, minutes: float) -> Path:
    """The set's audio concatenated (repeated) to `minutes` minutes, one WAV."""
    import soundfile

    path = WORK / f"long_{minutes:g}min.wav"
    if not path.is_file():
        parts, total = [], 0
        while total < minutes * 60 * SAMPLE_RATE:
            for _, wav, _ in rows:
                audio, _ = soundfile.read(str(wav), dtype="float32")
                parts.append(audio)
                total += len(audio)
        soundfile.write(
            str(path), np.concatenate(parts)[: int(minutes * 60 * SAMPLE_RATE)], SAMPLE_RATE
        )
    return path


def measure_in_subprocess(system: str, wav: Path, run_dir: Path) -> dict:
    command = [
        sys.executable,
        "-m",
        "benchmarks.transcription",
        "--measure",
        system,
        "--file",
        str(wav),
        "--run",
        str(run_dir),
    ]
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{system} measure failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def round_trip(transcribe, lm_dir: Path, count: int) -> dict:
    """Generate `count` pieces with a trained LM run, render them as piano, transcribe them and
    score the transcription against the generated MIDI."""
    import symbolic
    from symbolic.audio import synth
    from symbolic.audio.notes import merge_unisons, midi_file_notes
    from symbolic.output.render import write_wav

    lm = symbolic.load_run(lm_dir)
    paths = symbolic.write_midi(lm.sample(num=count, seed=0), WORK / "round_trip")
    rows = []
    for path in paths:
        notes = merge_unisons(midi_file_notes(path))
        if len(notes) == 0:
            continue
        audio = synth.render_notes(
            notes, synth.Variant(), SAMPLE_RATE, None, np.random.default_rng(0)
        )
        wav = path.with_suffix(".wav")
        write_wav(wav, np.stack([audio, audio], axis=1), SAMPLE_RATE)
        rows.append((path.stem, wav, notes))
    return {**score_set(transcribe, rows), "pieces": len(rows)}


def train_summary(run_dir: Path) -> dict:
    """Steps, wall time and size of the run: its summary.json, or (a run stopped by hand before
    it wrote one) its metrics.jsonl, from the first record to the best checkpoint's step."""
    path = run_dir / "summary.json"
    if path.is_file():
        return json.loads(path.read_text())
    from symbolic.training.checkpoint import restore_params
    from symbolic.training.trainer import MetricsLog, num_params

    log = MetricsLog.of_run(run_dir)
    records = log.read_records()
    start = next(r["time"] for r in records if r.get("event") == "start")
    params, best_step = restore_params(run_dir)
    wall = log.path.stat().st_mtime - start  # the last record's write
    return {"steps": best_step, "wall_s": wall, "num_params": num_params(params)}


def run_benchmark(args) -> dict:
    """Score both systems on every set; results.json's flat record."""
    import symbolic.audio.synth as synth
    from symbolic.transcription.run import load_transcriber

    results: dict = {"load_before": load_average()}
    run = load_transcriber(args.run)
    augment = run.meta.augment
    seen = tuple(augment["programs"])
    sets = build_sets(args.pieces, args.seconds, seen)
    systems = {"ours": ours(run)}
    if basic_pitch_version() is not None and not args.skip_basic_pitch:
        systems["basic_pitch"] = basic_pitch()
    for system, transcribe in systems.items():
        transcribe(sets["seen"][0][1])  # warm up: compile / load once, outside the timings
        prefix = "" if system == "ours" else "basic_pitch_"
        for name, rows in sets.items():
            scores = score_set(transcribe, rows)
            results |= {f"{prefix}{key}_{name}": value for key, value in scores.items()}
            print(system, name, {k: round(v, 3) for k, v in scores.items()}, flush=True)
    long = long_file(sets["seen"], args.long_minutes)
    for system in systems:
        measured = measure_in_subprocess(system, long, args.run)
        prefix = "" if system == "ours" else "basic_pitch_"
        results[f"{prefix}realtime_factor"] = measured["realtime_factor"]
        results[f"{prefix}peak_memory_mb"] = measured["peak_memory_mb"]
    results["long_file_minutes"] = args.long_minutes
    lm_dir = REPO_ROOT / "demo" / "run"
    if (lm_dir / "config.json").is_file():
        trip = round_trip(systems["ours"], lm_dir, 20)
        results |= {f"round_trip_{k}": v for k, v in trip.items()}
    else:
        results["round_trip"] = f"skipped: no trained demo Transformer at {lm_dir}"
    summary = train_summary(Path(args.run))
    results |= {
        "pieces_per_set": args.pieces,
        "seconds_per_piece": args.seconds,
        "seen_programs": ",".join(map(str, seen)),
        "unseen_programs": ",".join(map(str, synth.UNSEEN_PROGRAMS)),
        "run": os.path.relpath(Path(args.run).resolve(), REPO_ROOT),
        "features": run.params_features.kind,
        "train_copies": augment["copies"],
        "train_max_seconds": augment["max_seconds"],
        "train_wall_s": summary["wall_s"],
        "train_steps": summary["steps"],
        "num_params": summary["num_params"],
        "basic_pitch_version": basic_pitch_version(),
        "load_after": load_average(),
        "command": command_line("benchmarks.transcription"),
        **environment(),
    }
    return results


def markdown(results: dict) -> str:
    sets = ("seen", "unseen", "pop909")
    rows = []
    for system, prefix in (("ours", ""), ("basic-pitch 0.4.0", "basic_pitch_")):
        for name in sets:
            if f"{prefix}note_f1_{name}" not in results:
                continue
            rows.append(
                [system, name]
                + [
                    results[f"{prefix}{k}_{name}"]
                    for k in (
                        "note_p",
                        "note_r",
                        "note_f1",
                        "note_offset_f1",
                        "frame_p",
                        "frame_r",
                        "frame_f1",
                        "realtime_factor",
                    )
                ]
            )
    table = markdown_table(
        [
            "system",
            "set",
            "note P",
            "note R",
            "note F1",
            "note+offset F1",
            "frame P",
            "frame R",
            "frame F1",
            "x real time (per set)",
        ],
        rows,
    )
    speed = markdown_table(
        ["system", "x real time", "peak memory (MB)"],
        [
            [s, results.get(f"{p}realtime_factor"), results.get(f"{p}peak_memory_mb")]
            for s, p in (("ours", ""), ("basic-pitch 0.4.0", "basic_pitch_"))
            if f"{p}realtime_factor" in results
        ],
    )
    anchors = markdown_table(
        ["system", "data set", "metric", "published"], [list(a) for a in ANCHORS]
    )
    trip = results.get("round_trip") or (
        f"{results['round_trip_pieces']} pieces: note F1 {results['round_trip_note_f1']:.3f}, "
        f"with offsets {results['round_trip_note_offset_f1']:.3f}, frame F1 "
        f"{results['round_trip_frame_f1']:.3f}"
    )
    copies, seconds = results["train_copies"], results["train_max_seconds"]
    span = "whole works" if seconds is None else f"first {seconds:g} s"
    return f"""# Transcription: ours vs basic-pitch

`{results["command"]}`, run `{results["run"]}` ({results["num_params"]:,} parameters, trained
{results["train_steps"]} steps in {results["train_wall_s"] / 60:.1f} min).

{results["pieces_per_set"]} pieces a set, the first {results["seconds_per_piece"]:g} s of each,
rendered at 44.1 kHz by FluidSynth (FluidR3 GM) with reverb. Seen programs
{results["seen_programs"]}, unseen {results["unseen_programs"]} (GM, 0-based). Scores are
mir_eval.transcription means over the pieces: note F1 with onsets within 50 ms, note+offset F1
with offsets within 20 % of the note (or 50 ms), frame P/R/F1 on a 20 ms grid.

{table}

Speed on one {results["long_file_minutes"]:g}-minute file, in a fresh process after one warm-up
(real-time factor = seconds of audio per second of compute, this machine's
{results["cpu_count"]} CPU cores; peak resident memory of the whole process):

{speed}

Round trip (generate with the demo Transformer, render, transcribe, compare): {trip}.

Targets of the issue: {targets(results)}

Features: {results["features"]}. Training data: the Bach chorales' train split and 60 POP909
train songs, {copies} augmented renders each ({span}; programs drawn from the seen set, so the
songs not only as piano); no test work of any set is in it. The chorale renders use the same
SoundFont as the test audio, so "seen programs" means the same synthesiser patches: these are
in-domain figures, not figures on recordings.

Published anchors, **on other data** (real recordings, not our renders), for scale only:

{anchors}

{load_line(results)}
"""


def targets(results: dict) -> str:
    """One line per target: met or missed, with the figure."""
    lines = []
    for name, goal in (("seen", 0.95), ("unseen", 0.90), ("pop909", 0.90)):
        ours_f1 = results[f"note_f1_{name}"]
        line = (
            f"note F1 {name} {ours_f1:.3f} (target {goal}: {'met' if ours_f1 >= goal else 'missed'}"
        )
        other = results.get(f"basic_pitch_note_f1_{name}")
        if other is not None:
            line += f"; basic-pitch {other:.3f}, {'ahead' if ours_f1 > other else 'not ahead'}"
        lines.append(line + ")")
    rtf = results["realtime_factor"]
    lines.append(f"{rtf:.1f}x real time (target 20x: {'met' if rtf >= 20 else 'missed'})")
    return "; ".join(lines) + "."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=REPO_ROOT / "runs" / "transcriber")
    parser.add_argument("--pieces", type=int, default=20, help="pieces per set")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of each piece")
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="3 pieces of 10 s, a 1 min file")
    parser.add_argument("--skip-basic-pitch", action="store_true")
    parser.add_argument(
        "--install-basic-pitch",
        action="store_true",
        help="run install_basic_pitch() first (pip, --no-deps) and exit",
    )
    parser.add_argument("--measure", choices=("ours", "basic_pitch"), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.install_basic_pitch:
        install_basic_pitch()
        return
    if args.measure:
        print(json.dumps(measure(args.measure, args.file, args.run)))
        return
    if args.quick:
        args.pieces, args.seconds, args.long_minutes = 3, 10.0, 1.0
    results = run_benchmark(args)
    out = WORK / "quick" if args.quick else OUT_DIR
    paths = write_results(out, results, markdown(results))
    print("wrote", *paths)


if __name__ == "__main__":
    main()
