"""Live streaming: `generate --stream` plays the piece on a MIDI port while it is sampled, each
note at its time, and writes the same piece as a file. A fake port records what it is sent and
when, so no MIDI system is needed."""

from __future__ import annotations

import time

import mido
import pytest

from symbolic.generation.conditioning import Condition
from symbolic.generation.settings import Sampling
from symbolic.generation.stream import LEAD_S, stream_generate
from symbolic.output import ports
from tests.helpers import write_run_dir

TEMPO = 240.0  # beats per minute: a quick piece keeps the test short


class ClockedPort:
    """A stand-in for a mido output port: records each message with the time it was sent."""

    def __init__(self):
        self.sent: list[tuple[float, mido.Message]] = []
        self.resets = 0

    def send(self, msg: mido.Message) -> None:
        self.sent.append((time.monotonic(), msg))

    def reset(self) -> None:
        self.resets += 1


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_run_dir(tmp_path_factory.mktemp("runs") / "stream", "transformer")


def _file_onsets(path) -> list[tuple[float, int]]:
    """(seconds, pitch) of every note-on of a MIDI file."""
    now, onsets = 0.0, []
    for msg in mido.MidiFile(path):
        now += msg.time
        if msg.type == "note_on" and msg.velocity:
            onsets.append((now, msg.note))
    return onsets


def test_streamed_notes_are_the_written_piece_in_time(run_dir, tmp_path):
    port = ClockedPort()
    started = time.monotonic()
    paths = stream_generate(
        run_dir,
        tmp_path / "out",
        Sampling(num=1, max_tokens=120, seed=3),
        port=port,
        condition=Condition(tempo=TEMPO),
    )
    onsets = [(t, m.note) for t, m in port.sent if m.type == "note_on" and m.velocity]
    expected = _file_onsets(paths[0])
    assert expected and sorted(p for _, p in onsets) == sorted(p for _, p in expected)
    # Each note sounds at its time in the piece (the clock starts LEAD_S after the first bar).
    first_sent, first_written = onsets[0][0], expected[0][0]
    sent = sorted((round(t - first_sent, 1), p) for t, p in onsets)
    written = sorted((round(t - first_written, 1), p) for t, p in expected)
    assert [p for _, p in sent] == [p for _, p in written]
    late = [abs(a - b) for (a, _), (b, _) in zip(sent, written, strict=True)]
    assert max(late) <= 0.15
    assert first_sent - started < 60 and port.resets == 1
    offs = [m for _, m in port.sent if m.type == "note_off"]
    assert len(offs) == len(onsets)  # every note is released
    assert LEAD_S > 0


def test_stream_without_a_midi_system_is_the_one_line_error_of_ports(run_dir, tmp_path, capsys):
    try:
        ports.list_ports()
    except ports.MidiOutError as err:
        expected = str(err)
    else:
        pytest.skip("this machine has a MIDI system; the error path cannot be shown")
    from symbolic.cli import main

    args = ["generate", str(run_dir), "--out", str(tmp_path / "o"), "--stream", "--num", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0]
    assert not (tmp_path / "o").exists()


class RecordingSender:
    """Stands in for a TimedSender: keeps what is scheduled."""

    def __init__(self):
        self.scheduled: list[tuple[float, mido.Message]] = []

    def send_at(self, when: float, msg: mido.Message) -> None:
        self.scheduled.append((when, msg))


def test_a_bar_is_scheduled_as_soon_as_the_next_bar_opens(run_dir, tmp_path):
    """Sampling need not finish: the notes of bar 1 are queued once bar 2's Bar token is drawn."""
    from symusic import Score

    from symbolic.data import views
    from symbolic.generation.run import load_lm_run
    from symbolic.generation.stream import BarStreamer
    from tests.helpers import write_test_midi

    run = load_lm_run(run_dir)
    notes = [(0, 1, 60, 80), (1, 1, 64, 80), (4, 2, 67, 80), (6, 2, 72, 80)]  # 2 + 2 per bar
    path = write_test_midi(tmp_path / "two_bars.mid", [{"program": 0, "notes": notes}])
    body = views.encode_score(run.tokenizer, run.meta, Score(str(path)))
    bos, bar = run.meta.special_ids.bos, run.tokenizer.vocab["Bar_None"]
    sender = RecordingSender()
    streamer = BarStreamer(run, [bos], sender, tempo=120.0)
    second_bar = [i for i, token in enumerate(body) if token == bar][1]
    for position, token in enumerate(body[: second_bar + 1], start=1):
        streamer.tap(position, [token])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(sender.scheduled) < 5:
        time.sleep(0.01)
    ons = [(t, m.note) for t, m in sender.scheduled if m.type == "note_on"]
    assert [p for _, p in ons] == [60, 64]  # bar 1 only: bar 2 is still open
    assert ons[1][0] - ons[0][0] == pytest.approx(0.5)  # a beat at 120 bpm
    for position, token in enumerate(body[second_bar + 1 :], start=second_bar + 2):
        streamer.tap(position, [token])
    streamer.tokens.put(None)  # the end of sampling: the rest is scheduled, the thread ends
    streamer.thread.join(timeout=10)
    assert [m.note for _, m in sender.scheduled if m.type == "note_on"] == [60, 64, 67, 72]
