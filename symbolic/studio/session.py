"""The studio's state, without any web code: the loaded runs, the uploads, the samples, and the one
lock that serialises every call into a model.

Every file the studio writes lies under its work folder (`uploads/`, `samples/`), named by a
random id; the page and scripts name files only by those ids, never by a path. "Keep" copies a
sample's MIDI (and its WAV and PNG) into the output folder.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import secrets
import shutil
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import symbolic
from symbolic.data.convert import load_primer, load_score
from symbolic.generation.conditioning import Condition
from symbolic.generation.generate import note_count
from symbolic.generation.run import LMRun
from symbolic.generation.settings import Controls, Sampling
from symbolic.music import keys
from symbolic.output import midi as midi_io
from symbolic.output.render import synth_available
from symbolic.paths import output_folder
from symbolic.transcription.run import TranscriberRun
from symbolic.vae.run import VAERun

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # a MIDI file of a long piece is some 100 kB
MAX_AUDIO_BYTES = 20 * 1024 * 1024  # a WAV to transcribe: two minutes of 44.1 kHz stereo
MAX_SAMPLES = 8  # samples per request: the page shows them side by side
MAX_TOKENS = 8192
WARM_UP = Sampling(num=2, max_tokens=256, seed=0)  # the page's defaults: its first click is warm
_ID = re.compile(r"[0-9a-f]{12}")


def serialised(method):
    """Run a `Studio` method under its lock: one model call, plot (pyplot is not thread-safe)
    or render at a time; concurrent requests wait their turn in Starlette's thread pool."""

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self.lock:
            return method(self, *args, **kwargs)

    return locked


class UploadError(ValueError):
    """A file the studio refuses (not MIDI, corrupt, too long, too large): a one-line reason."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Item:
    """An upload or a sample: its id, what it is and its files (MIDI always; WAV, PNG if made)."""

    id: str
    kind: str  # "midi" or "audio" (uploads), "sample"
    name: str  # the upload's file name, or "<run> #<n>"
    midi: Path | None
    wav: Path | None = None
    png: Path | None = None
    notes: int = 0
    warnings: tuple[str, ...] = ()  # what writing its MIDI warned about (shared channels, ...)

    def to_json(self) -> dict:
        urls = {s: f"/files/{self.id}.{s}" for s in ("mid", "wav", "png")}
        present = {"mid": self.midi, "wav": self.wav, "png": self.png}
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "notes": self.notes,
            "warnings": list(self.warnings),
            **{f"{s}_url": urls[s] if present[s] else None for s in urls},
        }


def run_kind(run: Any) -> str:
    """The kind of a loaded run: lm, vae or transcriber; any other run is a ValueError."""
    for kind, cls in (("lm", LMRun), ("vae", VAERun), ("transcriber", TranscriberRun)):
        if isinstance(run, cls):
            return kind
    raise ValueError(
        f"{run.run_dir}: a {run.config.model_name!r} run; the studio serves Transformer, LSTM, "
        "VAE and transcriber runs"
    )


def run_info(name: str, run: Any) -> dict:
    """What the page shows and offers for one run."""
    kind = run_kind(run)
    info = {"name": name, "kind": kind, "model": run.config.model_name, "run_dir": str(run.run_dir)}
    if kind == "lm":
        view = run.meta.view
        info |= {
            "view": view.name,
            "chords": view.name == "melody_over_chords",
            "infill": run.config.train.fim_rate > 0,
        }
    return info


class Studio:
    """The runs of RUN_DIRS, loaded (and warmed up) once; uploads and samples under `work_dir`
    (a temporary folder by default); kept samples copied to `out_dir`. `warm_up` is the
    generation run once at launch (None: none); `render_audio` None renders WAVs when FluidSynth
    is installed."""

    def __init__(
        self,
        run_dirs: list[str | Path],
        out_dir: str | Path,
        *,
        work_dir: str | Path | None = None,
        warm_up: Sampling | None = WARM_UP,
        render_audio: bool | None = None,
    ) -> None:
        if not run_dirs:
            raise ValueError("serve: name at least one RUN_DIR")
        self.out_dir = Path(out_dir)
        output_folder(self.out_dir)  # a file in the way is an error now, not at the first keep
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="symbolic-studio-"))
        for sub in ("uploads", "samples"):
            output_folder(self.work_dir / sub, create=True)
        self.lock = threading.Lock()  # one model call at a time: requests queue on it
        self.items: dict[str, Item] = {}
        self.runs: dict[str, Any] = {}
        for run_dir in run_dirs:
            run = symbolic.load_run(run_dir)
            run_kind(run)  # refuse a GAN run at launch, not at the first click
            self.runs[self._unique_name(Path(run_dir).resolve().name or "run")] = run
        self.render_audio = synth_available() if render_audio is None else render_audio
        self.warm_up_s = self._warm_up(warm_up) if warm_up is not None else 0.0

    def _unique_name(self, base: str) -> str:
        name, n = base, 2
        while name in self.runs:
            name, n = f"{base}-{n}", n + 1
        return name

    def _warm_up(self, sampling: Sampling) -> float:
        """One short generation per language-model run (`sampling`: the page's defaults), so
        that compiling happens at launch and the first click answers at sampling speed.
        -> seconds taken."""
        started = time.perf_counter()
        for run in self.runs.values():
            if isinstance(run, LMRun):
                run.draw(sampling)
            elif isinstance(run, VAERun):
                run.sample(1)
        return time.perf_counter() - started

    def info(self) -> dict:
        return {
            "runs": [run_info(name, run) for name, run in self.runs.items()],
            "audio": self.render_audio,
            "max_upload_bytes": MAX_UPLOAD_BYTES,
        }

    # --- files ------------------------------------------------------------------------------

    def _new_id(self) -> str:
        return secrets.token_hex(6)

    def item(self, item_id: str, kind: str | None = None) -> Item:
        """The upload or sample `item_id` (of `kind` if given); an unknown id is a ValueError."""
        found = self.items.get(item_id) if _ID.fullmatch(str(item_id)) else None
        if found is None or (kind is not None and found.kind != kind):
            what = {"midi": "MIDI upload", "audio": "audio upload"}.get(kind or "", "file")
            raise ValueError(f"no {what} with id {item_id!r}: upload it first")
        return found

    def file(self, item_id: str, suffix: str) -> Path:
        """The .mid, .wav or .png of an item."""
        item = self.item(item_id)
        path = {"mid": item.midi, "wav": item.wav, "png": item.png}.get(suffix)
        if path is None or not path.is_file():
            raise FileNotFoundError(f"{item_id}.{suffix}: no such file")
        return path

    @serialised
    def upload(self, filename: str, data: bytes) -> Item:
        """Check and store an uploaded MIDI file (or a WAV, for a transcriber run).

        Raises:
            UploadError: too large (413), empty, not MIDI/WAV, corrupt, or too long.
        """
        name = Path(filename or "upload").name
        if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
            return self._upload_audio(name, data)
        if len(data) > MAX_UPLOAD_BYTES:
            raise UploadError(
                f"{name}: {len(data):,} bytes, over the upload limit of {MAX_UPLOAD_BYTES:,}", 413
            )
        if not data:
            raise UploadError(f"{name}: the file is empty")
        if data[:4] != b"MThd":
            raise UploadError(f"{name}: not a MIDI file (it does not start with 'MThd')")
        item_id = self._new_id()
        path = self.work_dir / "uploads" / f"{item_id}.mid"
        path.write_bytes(data)
        try:
            score = load_primer(path)
        except Exception as err:  # whatever a damaged file makes symusic raise: refuse it
            path.unlink()
            raise UploadError(f"{name}: {_reason(err, path)}") from None
        notes = note_count(score)
        if notes == 0:
            path.unlink()
            raise UploadError(f"{name}: a MIDI file without notes")
        from symbolic.output.plot import plot_midi

        item = Item(item_id, "midi", name, path, png=plot_midi(path, path.with_suffix(".png")))
        item = dataclasses.replace(item, notes=notes)
        self.items[item_id] = item
        return item

    def _upload_audio(self, name: str, data: bytes) -> Item:
        if len(data) > MAX_AUDIO_BYTES:
            raise UploadError(
                f"{name}: {len(data):,} bytes, over the audio limit of {MAX_AUDIO_BYTES:,}", 413
            )
        item_id = self._new_id()
        path = self.work_dir / "uploads" / f"{item_id}.wav"
        path.write_bytes(data)
        try:
            import soundfile

            soundfile.info(str(path))
        except Exception as err:  # soundfile's own error type for a damaged header
            path.unlink()
            raise UploadError(f"{name}: not a readable WAV file ({err})") from None
        item = Item(item_id, "audio", name, None, wav=path)
        self.items[item_id] = item
        return item

    def _sample_items(self, run_name: str, scores: list, key: str | None, monophonic: bool):
        """Write each score as a sample: DAW-ready MIDI, piano roll, WAV (with FluidSynth)."""
        from symbolic.output.plot import plot_score

        signature = keys.parse_key(key) if key else None
        made = []
        for number, score in enumerate(scores, 1):
            item_id = self._new_id()
            midi = self.work_dir / "samples" / f"{item_id}.mid"
            with warnings.catch_warnings(record=True) as caught:  # safe: under the lock
                warnings.simplefilter("always")
                midi_io.save_daw_midi(score, midi, key=signature, monophonic=monophonic)
            said = tuple(str(w.message).replace(f"{midi}: ", "") for w in caught)
            name = f"{run_name} #{number}"
            png = plot_score(load_score(midi), midi.with_suffix(".png"), title=name)
            wav = self._render(midi) if self.render_audio else None
            item = Item(item_id, "sample", name, midi, wav, png)
            item = dataclasses.replace(item, notes=note_count(score), warnings=said)
            self.items[item_id] = item
            made.append(item)
        return made

    def _render(self, midi: Path) -> Path:
        from symbolic.output.render import render

        return render(midi, midi.with_suffix(".wav"))

    def keep(self, item_id: str) -> list[Path]:
        """Copy a sample's files into the output folder as <run>_<id>.mid (.wav, .png)."""
        item = self.item(item_id, "sample")
        output_folder(self.out_dir, create=True)
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", item.name.split(" #")[0]) + f"_{item.id}"
        kept = []
        for path in (item.midi, item.wav, item.png):
            if path is not None and path.is_file():
                kept.append(Path(shutil.copy2(path, self.out_dir / f"{stem}{path.suffix}")))
        return kept

    # --- generation -------------------------------------------------------------------------

    def run(self, name: str, kind: str | None = None) -> Any:
        run = self.runs.get(name)
        if run is None:
            raise ValueError(f"no run named {name!r}; the runs are {', '.join(self.runs)}")
        if kind is not None and run_kind(run) != kind:
            what = {"lm": "a Transformer or LSTM", "vae": "a VAE", "transcriber": "a transcriber"}
            raise ValueError(f"run {name!r} is not {what[kind]} run")
        return run

    @serialised
    def generate(self, request: dict) -> list[Item]:
        """Samples for one request of the page (see `parse_request`): from scratch, a
        continuation of an uploaded primer, or infilled bars of it."""
        name = str(request.get("run") or next(iter(self.runs)))
        run = self.run(name)
        sampling, controls, condition, mode = parse_request(request)
        if isinstance(run, VAERun):
            if mode != "sample":
                raise ValueError(f"run {name!r} is a VAE: it samples or interpolates")
            scores = run.sample(sampling.num, seed=sampling.seed, temperature=sampling.temperature)
            return self._sample_items(name, scores, controls.key, controls.monophonic)
        run = self.run(name, "lm")
        primer = None
        if mode in ("continue", "infill"):
            primer = self.item(str(request.get("primer", "")), "midi").midi
        if mode == "infill":
            if not condition.is_empty:
                raise ValueError("infilling cannot be combined with chords, tempo or meter")
            bars = str(request.get("infill_bars") or "")
            scores = run.infill(primer, bars, sampling, controls=controls)
            if not scores:
                raise ValueError(f"no sample completed bars {bars}: raise max tokens")
        else:
            scores = run.draw(
                sampling, primer=primer, controls=controls, condition=condition
            ).scores
        monophonic = controls.monophonic and mode != "infill"  # infill keeps the other bars
        return self._sample_items(name, scores, controls.key, monophonic)

    @serialised
    def interpolate(self, name: str, a: str, b: str, steps: int = 5) -> list[Item]:
        """`steps` melodies from upload `a` to upload `b` through a VAE run's latent space."""
        run = self.run(name, "vae")
        if not 2 <= int(steps) <= 16:
            raise ValueError(f"steps must be in 2..16, got {steps}")
        first, last = self.item(a, "midi").midi, self.item(b, "midi").midi
        scores = run.interpolate(first, last, int(steps))
        return self._sample_items(name, scores, None, False)

    @serialised
    def transcribe(self, name: str, audio: str) -> list[Item]:
        """An uploaded WAV as MIDI, through a transcriber run."""
        run = self.run(name, "transcriber")
        wav = self.item(audio, "audio").wav
        item_id = self._new_id()
        midi = self.work_dir / "samples" / f"{item_id}.mid"
        run.transcribe(wav, midi)
        from symbolic.output.plot import plot_midi

        png = plot_midi(midi, midi.with_suffix(".png"))
        notes = note_count(load_score(midi))
        item = Item(item_id, "sample", f"{name} #1", midi, wav, png, notes)
        self.items[item_id] = item
        return [item]


def parse_request(request: dict) -> tuple[Sampling, Controls, Condition, str]:
    """The page's JSON settings -> (Sampling, Controls, Condition, mode). Empty fields are
    unset; a bad value is the ValueError the records raise (the page shows it)."""
    try:
        return _parse_request(request)
    except TypeError as err:  # a list or an object where a number or a word goes
        raise ValueError(f"bad settings: {err}") from None


def _parse_request(request: dict) -> tuple[Sampling, Controls, Condition, str]:
    mode = str(request.get("mode") or "sample")
    if mode not in ("sample", "continue", "infill"):
        raise ValueError(f"mode must be sample, continue or infill, got {mode!r}")
    get = {k: v for k, v in request.items() if v is not None and v != ""}
    num, max_tokens = int(get.get("num", 2)), int(get.get("max_tokens", WARM_UP.max_tokens))
    if not 1 <= num <= MAX_SAMPLES or not 1 <= max_tokens <= MAX_TOKENS:
        raise ValueError(f"num must be in 1..{MAX_SAMPLES} and max_tokens in 1..{MAX_TOKENS}")
    sampling = Sampling(
        num=num,
        max_tokens=max_tokens,
        temperature=float(get.get("temperature", 1.0)),
        top_k=int(get.get("top_k", 0)),
        top_p=float(get.get("top_p", 1.0)),
        seed=int(get.get("seed", 0)),
    )
    controls = Controls(
        key=get.get("key"),
        pitch_range=get.get("pitch_range"),
        monophonic=bool(get.get("monophonic", False)),
        max_polyphony=int(get["max_polyphony"]) if "max_polyphony" in get else None,
        grid=get.get("grid"),
        bars=int(get["bars"]) if "bars" in get else None,
        repetition_penalty=float(get.get("repetition_penalty", 1.0)),
        beam=int(get.get("beam", 0)),
        programs=str(get["programs"]) if "programs" in get else None,
    )
    condition = Condition(
        chords=get.get("chords"),
        tempo=float(get["tempo"]) if "tempo" in get else None,
        time_signature=get.get("time_signature"),
    )
    return sampling, controls, condition, mode


def _reason(err: BaseException, path: Path) -> str:
    """An error's message without the studio's own temp path (the user knows their file name)."""
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text.replace(f"{path}: ", "").replace(str(path), "the file") or "unreadable"
