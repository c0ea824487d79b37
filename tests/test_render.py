"""Rendering a small MIDI written with mido through the real FluidSynth and GM SoundFont."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from symbolic.output import render as render_lib
from symbolic.output.render import RenderError, peak_normalize, read_wav, render
from tests.helpers import synth_available, write_test_midi

needs_synth = pytest.mark.skipif(
    not synth_available(), reason="fluidsynth or a GM SoundFont missing"
)


@pytest.fixture(scope="module")
def chord_midi(tmp_path_factory) -> Path:
    """A C-major arpeggio at 120 bpm, one quarter (half a second) per note, on piano."""
    notes = [(i, 1, pitch, 100) for i, pitch in enumerate((60, 64, 67, 72))]
    path = tmp_path_factory.mktemp("render") / "chord.mid"
    return write_test_midi(path, [{"program": 0, "notes": notes}], bpm=120)


@needs_synth
@pytest.mark.parametrize("sample_rate", [22050, 44100])
def test_render_writes_normalised_non_silent_wav(chord_midi, tmp_path, sample_rate):
    wav = render(chord_midi, tmp_path / "out" / "chord.wav", sample_rate=sample_rate)
    audio, rate = read_wav(wav)
    assert rate == sample_rate and audio.shape[1] == 2
    assert audio.shape[0] >= 2 * sample_rate  # four half-second notes
    peak = np.abs(audio).max()
    assert peak == pytest.approx(10 ** (-1 / 20), abs=1e-3)  # -1 dBFS: loud, never clipping
    assert np.sqrt(np.mean(audio[: 2 * sample_rate] ** 2)) > 0.01  # the notes are audible
    half = sample_rate // 2
    notes = [np.sqrt(np.mean(audio[i * half : (i + 1) * half] ** 2)) for i in range(4)]
    assert min(notes) > 0.05, notes  # each of the four notes sounds in its half second
    # then the release fades out within seconds, not minutes of silence
    assert audio.shape[0] < 8 * sample_rate
    assert np.sqrt(np.mean(audio[-half:] ** 2)) < 0.1 * min(notes)


@needs_synth
def test_reverb_switch_changes_the_audio(chord_midi, tmp_path):
    wet, _ = read_wav(render(chord_midi, tmp_path / "wet.wav", sample_rate=22050, reverb=True))
    dry, _ = read_wav(render(chord_midi, tmp_path / "dry.wav", sample_rate=22050, reverb=False))
    n = min(len(wet), len(dry))
    assert np.abs(wet[:n] - dry[:n]).mean() > 1e-3


@needs_synth
def test_without_normalisation_fluidsynth_gain_is_kept(chord_midi, tmp_path):
    raw, _ = read_wav(
        render(chord_midi, tmp_path / "raw.wav", sample_rate=22050, gain_normalize=False)
    )
    assert 0.0 < np.abs(raw).max() < 10 ** (-1 / 20)  # FluidSynth's default gain is quieter


def test_peak_normalize_never_clips_and_keeps_silence():
    loud = np.array([[3.0, -4.0], [0.5, 1.0]], np.float32)
    out = peak_normalize(loud)
    assert np.abs(out).max() == pytest.approx(10 ** (-1 / 20))
    np.testing.assert_allclose(out / out[0, 0], loud / loud[0, 0], rtol=1e-6)  # shape kept
    silence = np.zeros((10, 2), np.float32)
    np.testing.assert_array_equal(peak_normalize(silence), silence)


def test_missing_soundfont_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.delenv(render_lib.SOUNDFONT_ENV, raising=False)
    monkeypatch.setattr(render_lib, "DEFAULT_SOUNDFONTS", (str(tmp_path / "none.sf2"),))
    with pytest.raises(RenderError, match="apt-get install fluidsynth fluid-soundfont-gm") as err:
        render_lib.find_soundfont()
    assert "\n" not in str(err.value)
    with pytest.raises(RenderError, match="does not exist"):
        render_lib.find_soundfont(tmp_path / "missing.sf2")


def test_soundfont_from_environment(tmp_path, monkeypatch):
    font = tmp_path / "mine.sf2"
    font.write_bytes(b"RIFF\x04\x00\x00\x00sfbk")  # a SoundFont's header
    monkeypatch.setenv(render_lib.SOUNDFONT_ENV, str(font))
    assert render_lib.find_soundfont() == font


def test_missing_fluidsynth_says_how_to_install(chord_midi, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RenderError, match="apt-get install fluidsynth"):
        render(chord_midi, tmp_path / "x.wav", soundfont=__file__)
