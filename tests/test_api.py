"""The public API in `symbolic/__init__.py`: lazy (no jax on import), and the notebook snippet of
the README on a tiny run directory, giving the same music as `symbolic generate`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mido
import pytest
from symusic import Score

import symbolic
from symbolic.generation import generate
from symbolic.generation.run import LMRun
from tests.helpers import write_run_dir

SNIPPET = dict(num=4, max_tokens=64, top_p=0.95, seed=0)  # the README's, within max_len 128


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return write_run_dir(tmp_path_factory.mktemp("api") / "run", "transformer")


def test_import_symbolic_does_not_load_jax():
    code = (
        "import sys, symbolic\n"
        "assert 'jax' not in sys.modules and 'miditok' not in sys.modules\n"
        "symbolic.Sampling(num=2), symbolic.Controls(key='D minor')\n"
        "assert 'jax' not in sys.modules, 'the records load jax'\n"
        "print(sorted(symbolic.__all__) == dir(symbolic))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_public_names_are_the_functions_the_cli_calls():
    from symbolic.data.prepare import prepare
    from symbolic.output.render import render
    from symbolic.training import trainer

    assert symbolic.prepare is prepare and symbolic.render is render
    assert symbolic.train.__module__ == "symbolic" and trainer.train is not symbolic.train
    assert {"load_run", "write_midi", "Sampling", "Controls", "__version__"} <= set(
        symbolic.__all__
    )
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        symbolic.nope  # noqa: B018


def test_symbolic_train_resolves_the_preset_and_calls_the_trainer(monkeypatch):
    from symbolic.training import config as config_lib
    from symbolic.training import trainer

    seen = []
    monkeypatch.setattr(trainer, "train", lambda *args, **kwargs: seen.append(args) or {"ok": 1})
    summary = symbolic.train("data", "run", preset="tiny", overrides=["model.d_model=16"], steps=3)
    assert summary == {"ok": 1}
    expected = config_lib.resolve("transformer", "tiny", ["model.d_model=16"], steps=3)
    assert seen == [(expected, Path("data"), Path("run"))]


def test_notebook_snippet_samples_what_generate_writes(run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = symbolic.load_run(run_dir)
    assert isinstance(run, LMRun) and run.tokenizer is not None and run.meta.vocab_size > 0
    scores = run.sample(**SNIPPET)
    assert len(scores) == 4 and all(isinstance(s, Score) for s in scores)
    paths = symbolic.write_midi(scores, "out")  # a str folder, relative
    assert paths == [Path("out") / f"sample_{i:03d}.mid" for i in range(4)]
    for path in paths:
        assert mido.MidiFile(path).type == 1
    written = generate.generate(run_dir, tmp_path / "cli", **SNIPPET)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in written]
    report = json.loads((tmp_path / "cli" / generate.REPORT_FILE).read_text())
    assert report["notes"] == [sum(len(t.notes) for t in s.tracks) for s in scores]
    assert report["settings"] == {**SNIPPET, "temperature": 1.0, "top_k": 0, "prompt_midi": None}


def test_continue_from_starts_with_the_primer(run_dir, tmp_path):
    run = symbolic.load_run(run_dir)
    primer = run.sample(num=1, max_tokens=40, seed=3)[0]
    if not primer.note_num():
        pytest.skip("the random model drew no notes for this seed")
    for score in run.continue_from(primer, symbolic.Sampling(num=2, max_tokens=24, seed=1)):
        assert score.note_num() >= primer.note_num()


def test_load_run_dispatches_a_vae_run_to_load_vae(tmp_path, monkeypatch):
    from symbolic.models.vae import VAEConfig
    from symbolic.training.config import RunConfig
    from symbolic.vae import run as vae_run

    RunConfig(model_name="vae", preset="tiny", model=VAEConfig()).save(tmp_path / "config.json")
    monkeypatch.setattr(vae_run, "load_vae", lambda path: ("vae", Path(path)))
    assert symbolic.load_run(str(tmp_path)) == ("vae", tmp_path)
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        symbolic.load_run(tmp_path / "missing")
