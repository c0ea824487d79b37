"""Fill-in-the-middle training and `--infill-bars`: the batch transform on real chorale windows,
tiny FIM runs trained by the real trainer, and infilled MIDI files whose bars outside the span
are compared, note by note and token by token, with the prompt's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from symusic import Note, Score, Tempo, Track

from symbolic import cli, tokenization
from symbolic.data import fim
from symbolic.data.batches import load_split, train_batch
from symbolic.data.convert import load_score
from symbolic.data.meta import load_meta
from symbolic.generation import generate, infill
from symbolic.generation.run import load_lm_run
from symbolic.generation.settings import Controls, Sampling
from symbolic.music import keys
from symbolic.output import midi as midi_io
from symbolic.training import config, sources, trainer

PROMPT_CHORALE = "bwv66.6.mxl"  # 9 bars of 4/4, four voices
BAR = 4 * midi_io.DAW_TICKS_PER_QUARTER  # ticks of a 4/4 bar in a DAW-ready file


@pytest.fixture(scope="module")
def fim_tokens(chorale_data_dir) -> fim.FimTokens:
    return sources.fim_tokens(chorale_data_dir, load_meta(chorale_data_dir))


def windows_of(batch: dict) -> np.ndarray:
    return np.concatenate([batch["inputs"], batch["targets"][:, -1:]], axis=1)


def test_fim_batch_is_a_permutation_of_the_window_plus_sentinels(chorale_data_dir, fim_tokens):
    split = load_split(chorale_data_dir, "train")
    batch = train_batch(split, 16, 256, seed=0, step=7)
    out = fim.fim_batch(batch, fim_tokens, 1.0, seed=0, step=7)
    np.testing.assert_array_equal(out["inputs"][:, 1:], out["targets"][:, :-1])
    np.testing.assert_array_equal(out["mask"], batch["mask"])
    reordered = 0
    for before, after in zip(windows_of(batch), windows_of(out), strict=True):
        if np.array_equal(before, after):
            continue
        reordered += 1
        kept = before[: -len(fim.SENTINELS)]
        assert sorted(after) == sorted(
            [*kept, fim_tokens.suffix, fim_tokens.prefix, fim_tokens.end]
        )
        assert after[0] == fim_tokens.suffix and after[-1] == fim_tokens.end
        pre = int(np.flatnonzero(after == fim_tokens.prefix)[0])
        suffix, prefix_and_middle = after[1:pre], after[pre + 1 : -1]
        # prefix + middle + suffix is the window, and the suffix starts on a bar or an EOS
        np.testing.assert_array_equal(np.concatenate([prefix_and_middle, suffix]), kept)
        assert suffix[0] in (fim_tokens.bar, fim_tokens.eos)
    assert reordered >= 12  # 256-token windows of chorales hold several bars


def test_fim_batch_is_deterministic_in_seed_and_step_and_rate_zero_is_identity(
    chorale_data_dir, fim_tokens
):
    split = load_split(chorale_data_dir, "train")
    batch = train_batch(split, 16, 256, seed=0, step=3)
    assert fim.fim_batch(batch, fim_tokens, 0.0, seed=0, step=3) is batch
    first = fim.fim_batch(batch, fim_tokens, 0.5, seed=0, step=3)
    again = fim.fim_batch(batch, fim_tokens, 0.5, seed=0, step=3)
    other = fim.fim_batch(batch, fim_tokens, 0.5, seed=0, step=4)
    np.testing.assert_array_equal(first["inputs"], again["inputs"])
    assert not np.array_equal(first["inputs"], other["inputs"])
    assert 0 < (first["inputs"] != batch["inputs"]).any(axis=1).sum() < 16


@pytest.mark.parametrize("draw", fim.SPAN_DRAWS)
def test_a_middle_is_whole_bars_of_one_piece(chorale_data_dir, fim_tokens, draw):
    tokens = np.asarray(load_split(chorale_data_dir, "train").tokens)
    rng = np.random.default_rng(0)
    for start in rng.integers(0, len(tokens) - 300, size=200):
        window = tokens[start : start + 300]
        span = fim.choose_span(window, fim_tokens, rng, draw)
        if span is None:
            continue
        first, stop = span
        assert window[first] == fim_tokens.bar
        assert window[stop] in (fim_tokens.bar, fim_tokens.eos) and stop > first
        assert fim_tokens.eos not in window[first:stop]


def test_drawing_the_bar_count_first_makes_longer_middles_common(chorale_data_dir, fim_tokens):
    tokens = np.asarray(load_split(chorale_data_dir, "train").tokens)
    starts = np.random.default_rng(1).integers(0, len(tokens) - 512, size=300)
    bars = {}
    for draw in fim.SPAN_DRAWS:
        rng, counts = np.random.default_rng(2), []
        for start in starts:
            window = tokens[start : start + 512]
            span = fim.choose_span(window, fim_tokens, rng, draw)
            if span is not None:
                counts.append(int((window[span[0] : span[1]] == fim_tokens.bar).sum()))
        bars[draw] = np.asarray(counts)
    # a stop drawn after the start favours single bars; a drawn count spreads them out
    assert np.mean(bars["stop"] == 1) > 0.5
    assert np.mean(bars["bars"] >= 2) > 0.6 and bars["bars"].max() >= 5


# --- tiny FIM runs, trained by the real trainer --------------------------------------------------

FIM_TRAINING = [
    "train.fim_rate=0.5",
    "train.seq_len=128",
    "train.steps=6",
    "train.eval_every=6",
    "train.checkpoint_every=6",
    "train.eval_max_windows=4",
]


@pytest.fixture(scope="module", params=["transformer", "lstm"])
def fim_run(request, chorale_data_dir, tmp_path_factory) -> Path:
    overrides = [*FIM_TRAINING, *(["model.max_len=512"] if request.param == "transformer" else [])]
    cfg = config.resolve(request.param, "tiny", overrides)
    run_dir = tmp_path_factory.mktemp("fim") / request.param
    trainer.train(cfg, chorale_data_dir, run_dir, progress=False)
    return run_dir


@pytest.fixture(scope="module")
def prompt_midi(bach_corpus_paths, tmp_path_factory) -> Path:
    """A real chorale, slowing down at bar 4, as a DAW-ready file whose notes and tempos are
    exactly what its tokens say."""
    from symbolic.data.convert import load_score

    tokenizer = tokenization.build_preset("remi")
    score = tokenization.decode(
        tokenizer, tokenization.encode(tokenizer, load_score(bach_corpus_paths[PROMPT_CHORALE]))
    )
    score.tempos.append(Tempo(3 * 4 * score.ticks_per_quarter, 70.0))
    score = tokenization.decode(tokenizer, tokenization.encode(tokenizer, score))
    path = tmp_path_factory.mktemp("prompt") / "chorale.mid"
    return midi_io.save_daw_midi(score, path)


def tempo_map(path: Path) -> list[tuple[int, float]]:
    return [(t.time, round(t.qpm, 3)) for t in Score(str(path)).tempos]


def notes_by_track(path: Path) -> dict[tuple[int, bool], list[tuple[int, int, int, int]]]:
    """{(program, is_drum): sorted (onset, duration, pitch, velocity)} of a MIDI file."""
    score = Score(str(path))
    assert score.ticks_per_quarter == midi_io.DAW_TICKS_PER_QUARTER
    return {
        (t.program, t.is_drum): sorted((n.time, n.duration, n.pitch, n.velocity) for n in t.notes)
        for t in score.tracks
    }


def outside(notes: dict, first: int, last: int) -> dict:
    start, stop = (first - 1) * BAR, last * BAR
    return {k: [n for n in v if not start <= n[0] < stop] for k, v in notes.items()}


def bars_of(path: Path) -> list[list[int]]:
    """The token ids of a MIDI file, cut into bars."""
    bar = tokenization.build_preset("remi").vocab["Bar_None"]
    bars: list[list[int]] = []
    for token in tokenization.encode(tokenization.build_preset("remi"), load_score(path)):
        if token == bar:
            bars.append([])
        bars[-1].append(token)
    return bars


def test_fim_run_records_its_sentinels(fim_run, chorale_data_dir):
    meta = json.loads((fim_run / "meta.json").read_text())
    data_vocab = load_meta(chorale_data_dir).vocab_size
    assert {k: meta["special_ids"][k] for k in fim.SENTINELS} == fim.sentinel_ids(data_vocab)
    run_config = config.RunConfig.load(fim_run / "config.json")
    assert run_config.model.vocab_size == data_vocab + 3 and run_config.train.fim_rate == 0.5
    assert meta["tokenizer_hash"] == load_meta(chorale_data_dir).tokenizer_hash


def test_infilling_keeps_every_bar_outside_the_span(fim_run, prompt_midi, tmp_path):
    controls = Controls(pitch_range="55-74")
    paths = generate.generate_infill(
        fim_run, tmp_path, prompt_midi, "3-5", num=3, max_tokens=300, seed=1, controls=controls
    )
    report = json.loads((tmp_path / generate.REPORT_FILE).read_text())
    assert report["settings"]["infill_bars"] == [3, 5] and len(paths) >= 1
    source_notes, source_bars = notes_by_track(prompt_midi), bars_of(prompt_midi)
    assert any(bars_of(path)[2:5] != source_bars[2:5] for path in paths)  # the span is new
    for path in paths:
        notes = notes_by_track(path)
        assert outside(notes, 3, 5) == outside(source_notes, 3, 5)  # bit-identical notes
        assert tempo_map(path) == tempo_map(prompt_midi)  # with the slowdown in bar 4
        bars = bars_of(path)
        assert len(bars) == len(source_bars)  # the span still has 3 bars
        assert bars[:2] == source_bars[:2] and bars[5:] == source_bars[5:]  # same tokens
        new = [n for v in notes.values() for n in v if 2 * BAR <= n[0] < 5 * BAR]
        assert all(55 <= pitch <= 74 for _, _, pitch, _ in new), new


def test_infilling_the_last_bars_obeys_key_and_monophony(fim_run, prompt_midi):
    run = load_lm_run(fim_run)
    ids = infill.sentinels(run)
    body = tokenization.encode(run.tokenizer, load_score(prompt_midi))
    split = infill.split_bars(body, ids.bar, (8, 9), prompt_midi)
    assert split.suffix == [] and split.middle.count(ids.bar) == 2
    controls = Controls(key="A major", monophonic=True)
    middles, _ = infill.sample_middles(
        run,
        split,
        ids,
        controls,
        Sampling(num=8, max_tokens=200, temperature=1.0, top_k=0, top_p=1.0, seed=0),
    )
    names = {i: t for t, i in run.tokenizer.vocab.items()}
    scale = keys.parse_key("A major").pitch_classes()
    assert any(m is not None for m in middles)
    for middle in filter(None, middles):
        kinds = [names[i].split("_")[0] for i in middle]
        assert kinds.count("Bar") == 2 and "Tempo" not in kinds and "EOS" not in kinds
        pitches = [int(names[i].split("_")[1]) for i in middle if names[i].startswith("Pitch_")]
        assert all(p % 12 in scale for p in pitches)
        onsets = "".join("|" if k in ("Bar", "Position") else "n" * (k == "Pitch") for k in kinds)
        assert "nn" not in onsets  # one note per onset
        tokenization.decode(run.tokenizer, [*split.prefix, *middle])  # decodes


@pytest.mark.parametrize("fim_run", ["lstm"], indirect=True)
def test_the_run_object_infills_what_generate_infill_writes(fim_run, prompt_midi, tmp_path):
    settings = Sampling(num=2, max_tokens=300, seed=1)
    paths = generate.generate_infill(fim_run, tmp_path / "cli", prompt_midi, "3-5", settings)
    scores = load_lm_run(fim_run).infill(load_score(prompt_midi), (3, 5), settings)
    written = generate.write_midi(scores, tmp_path / "api")
    assert [p.read_bytes() for p in written] == [p.read_bytes() for p in paths]


@pytest.mark.parametrize("fim_run", ["lstm"], indirect=True)  # the same code path for both
def test_a_fim_run_still_generates_from_scratch(fim_run, tmp_path):
    paths = generate.generate(fim_run, tmp_path, num=2, max_tokens=48, seed=0)
    assert all(Score(str(p)).note_num() > 0 for p in paths)


@pytest.mark.parametrize("fim_run", ["lstm"], indirect=True)
def test_bad_spans_and_runs_are_one_line_errors(fim_run, prompt_midi, tmp_path):
    with pytest.raises(ValueError, match="outside the piece, which has 9 bars") as err:
        generate.generate_infill(fim_run, tmp_path, prompt_midi, "8-12", num=1)
    assert str(prompt_midi) in str(err.value) and "\n" not in str(err.value)
    plain = shutil.copytree(fim_run, tmp_path / "plain")  # the same run, as a plain LM records it
    meta = json.loads((plain / "meta.json").read_text())
    meta["special_ids"] = {k: v for k, v in meta["special_ids"].items() if k not in fim.SENTINELS}
    (plain / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="not trained for infilling"):
        generate.generate_infill(plain, tmp_path, prompt_midi, "2-3", num=1)
    with pytest.raises(ValueError, match="--bars cannot be combined"):
        generate.generate_infill(fim_run, tmp_path, prompt_midi, "2-3", controls=Controls(bars=2))


@pytest.mark.parametrize("span", ["8-5", "five", "0-2", "3-"])
def test_cli_infill_bars_parse_errors_are_one_line(span, prompt_midi, tmp_path, capsys):
    argv = ["generate", str(tmp_path / "no_run"), "--out", str(tmp_path), "--prompt"]
    assert cli.main([*argv, str(prompt_midi), "--infill-bars", span]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symbolic: error: --infill-bars"), lines


def test_cli_infill_needs_a_prompt(tmp_path, capsys):
    argv = ["generate", str(tmp_path), "--out", str(tmp_path), "--infill-bars", "2-3"]
    assert cli.main(argv) == 2
    assert "needs --prompt" in capsys.readouterr().err


def test_new_notes_never_cut_a_kept_note_that_still_sounds():
    """A kept note held into the span survives; a new note restriking it there is dropped."""
    score, reference = Score(24), Score(24)
    reference.tempos.append(Tempo(0, 90.0))
    track = Track(program=40)
    # held from bar 1 into bar 2; restruck inside bar 2 (dropped), and after it ends (kept)
    for time, duration, pitch in [(0, 120, 60), (100, 10, 60), (120, 12, 60), (96, 24, 64)]:
        track.notes.append(Note(time, duration, pitch, 80))
    score.tracks.append(track)
    assert infill.keep_outside(score, reference, start=96, stop=192) == 1
    kept = sorted((n.time, n.duration, n.pitch) for n in score.tracks[0].notes)
    assert kept == [(0, 120, 60), (96, 24, 64), (120, 12, 60)]
    assert [(t.time, round(t.qpm, 3)) for t in score.tempos] == [(0, 90.0)]
