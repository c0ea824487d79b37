"""DAW-ready MIDI writing, piano-roll pictures and real-time MIDI output, on small files."""

from __future__ import annotations

import mido
import music21
import numpy as np
import pytest
from symusic import Score

from symbolic import cli
from symbolic.music.keys import Key
from symbolic.music.notes import clean_notes, clip_to_next_onset
from symbolic.output import midi as midi_io
from symbolic.output import plot
from symbolic.output import ports as midi_out

NOTES = [(0, 1, 60, 80), (0.5, 1, 60, 80), (1, 0, 64, 80), (2, 1, 67, 80), (2, 0.5, 67, 80)]


@pytest.fixture
def messy_midi(midi_writer, tmp_path):
    """Overlapping C4s, a zero-length E4 and a duplicated G4 onset, piano plus drums, in 3/4."""
    tracks = [
        {"program": 0, "notes": NOTES},
        {"program": 0, "drum": True, "notes": [(0, 0.5, 36, 100), (1, 0.5, 38, 100)]},
    ]
    return midi_writer(tmp_path / "messy.mid", tracks, time_sigs=((0, 3, 4),))


def test_clean_notes_cuts_overlaps_and_fixes_zero_lengths():
    time, duration = np.array([0, 240, 480, 960, 960]), np.array([480, 480, 0, 480, 240])
    pitch = np.array([60, 60, 64, 67, 67])
    keep, fixed = clean_notes(time, duration, pitch, min_len=60)
    assert keep.tolist() == [0, 1, 2, 3]  # the shorter duplicate G4 is dropped
    assert fixed[keep].tolist() == [240, 480, 60, 480]


def test_monophonic_lines_are_cut_at_the_next_onset():
    time, duration = np.array([0, 240, 240, 960]), np.array([960, 120, 480, 480])
    assert clip_to_next_onset(time, duration).tolist() == [240, 120, 480, 480]


def test_saved_file_is_daw_ready_and_reads_back_everywhere(messy_midi, tmp_path):
    out = midi_io.save_daw_midi(Score(str(messy_midi)), tmp_path / "out.mid")
    midi = mido.MidiFile(out)
    assert midi.type == 1 and len(midi.tracks) == 3
    names = [next(m.name for m in t if m.type == "track_name") for t in midi.tracks]
    assert names == ["out", "Acoustic Grand Piano", "Drums"]
    conductor = {m.type for m in midi.tracks[0]}
    assert {"set_tempo", "time_signature", "key_signature"} <= conductor
    assert not {"set_tempo", "time_signature"} & {m.type for t in midi.tracks[1:] for m in t}
    sounding: dict[tuple[int, int], int] = {}
    for track in midi.tracks[1:]:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type in ("note_on", "note_off"):
                key = (msg.channel, msg.note)
                if msg.type == "note_on" and msg.velocity:
                    assert key not in sounding  # no same-pitch overlap
                    sounding[key] = tick
                else:
                    assert tick > sounding.pop(key)  # no zero-length note
    assert len(music21.converter.parse(str(out)).flatten().notes) >= 4
    assert sum(len(t.notes) for t in Score(str(out)).tracks) >= 5


def test_key_signature_from_the_requested_key_or_estimated(messy_midi):
    score, key = midi_io.prepare_score(Score(str(messy_midi)), Key(2, "minor"))
    assert key == Key(2, "minor") and score.key_signatures[0].key == -1
    _, estimated = midi_io.prepare_score(Score(str(messy_midi)))
    assert estimated == Key(0, "major")  # C E G


def test_plot_writes_a_picture_that_is_not_blank(messy_midi, tmp_path):
    import matplotlib.image

    assert cli.main(["plot", str(messy_midi), str(tmp_path / "roll.png")]) == 0
    image = matplotlib.image.imread(tmp_path / "roll.png")
    assert image.shape[0] > 100 and image[..., :3].std() > 0.01
    assert plot._grid_lines(Score(str(messy_midi)), 480 * 6)[0] == [0, 1440]  # bars of 3/4


class RecordingPort:
    """Stands in for a mido output port: keeps what is sent and counts the resets."""

    def __init__(self):
        self.sent: list[mido.Message] = []
        self.resets = 0

    def send(self, msg: mido.Message) -> None:
        self.sent.append(msg)

    def reset(self) -> None:
        self.resets += 1


def test_play_sends_every_message_in_order_then_all_notes_off(messy_midi):
    expected = [msg for msg in mido.MidiFile(messy_midi) if not msg.is_meta]
    port = RecordingPort()
    assert midi_out.play(messy_midi, port=port, realtime=False) == len(expected)
    assert [msg.bytes() for msg in port.sent] == [msg.bytes() for msg in expected]
    struck = {(m.channel, m.note) for m in port.sent if m.type == "note_on" and m.velocity}
    assert struck == {(0, 60), (0, 64), (0, 67), (9, 36), (9, 38)}  # piano and drums
    assert port.resets == 1  # and nothing is left sounding


def test_play_sends_the_file_to_a_virtual_port(messy_midi):
    try:
        port = midi_out.open_output("symbolic-test", virtual=True)
    except midi_out.MidiOutError as err:
        pytest.skip(str(err).splitlines()[0])
    expected = sum(not msg.is_meta for msg in mido.MidiFile(messy_midi))
    with port:
        assert midi_out.play(messy_midi, port=port, realtime=False) == expected > 0


def test_ports_without_a_midi_system_is_one_clear_line(capsys):
    try:
        midi_out.list_ports()
    except midi_out.MidiOutError:
        assert cli.main(["ports"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("symbolic: error: ") and "MIDI" in err[-1]
    else:
        assert cli.main(["ports"]) == 0
