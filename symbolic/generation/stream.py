"""Live MIDI streaming: a piece plays on a MIDI output port while it is being sampled.

The sampler's loop hands each drawn token to the host (`sampling.sample`'s `on_token`, through
`jax.experimental.io_callback`), which queues it without waiting. A decoder thread collects the
tokens of the first row; each time a bar closes (a ``Bar`` token, or EOS at the end) it decodes
the piece so far in the run's view, which fixes every note of the closed bars, and schedules the
notes it has not sent yet on a `TimedSender`: note-ons and note-offs at their times in seconds
from a clock started `lead_s` after the first bar closes. Sampling runs far ahead of playback
(thousands of tokens per second against a few notes per second), so the notes are scheduled
before they are due, and a synth or DAW on the port hears the piece while it is written.

Channels follow the MIDI writer's rule: each program a channel of its own in the order the
programs appear, drums on channel 10 only.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import mido
import numpy as np

from symbolic.data import views
from symbolic.generation import conditioning, engine
from symbolic.generation.generate import generate
from symbolic.generation.run import LMRun, load_lm_run
from symbolic.generation.settings import Controls, Sampling
from symbolic.output.midi import DRUM_CHANNEL, MELODIC_CHANNELS
from symbolic.output.ports import TimedSender, open_output

LEAD_S = 0.5  # the first note sounds this long after the first bar closes
_END = None  # queued after the last token


class BarStreamer:
    """Tokens in, timed MIDI messages out, one closed bar at a time (see the module docstring).

    `tap` is the sampler's `on_token`; `finish()` flushes the last bar and waits for playback.
    """

    def __init__(self, run: LMRun, prompt: list[int], sender: TimedSender, tempo: float | None):
        self.run, self.sender, self.tempo = run, sender, tempo
        self.ids, self.prompt_len = list(prompt), len(prompt)
        self.bar_id = run.tokenizer.vocab.get("Bar_None")
        self.eos_id = run.meta.special_ids.eos
        self.sent: set[tuple] = set()
        self.channels: dict[tuple[int, bool], int] = {}
        self.clock: float | None = None
        self.error: BaseException | None = None  # of the decoder thread, raised by finish()
        self.tokens: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._decode_loop, name="bar-decoder", daemon=True)
        self.thread.start()

    def tap(self, position: np.ndarray, tokens: np.ndarray) -> None:
        """The sampler's host callback: queue row 0's token (never block the sampler)."""
        self.tokens.put((int(position), int(np.asarray(tokens)[0])))

    def finish(self) -> None:
        """After sampling: schedule the rest, then wait until everything has been played."""
        self.tokens.put(_END)
        self.thread.join()
        if self.error is not None:
            self.sender.close()
            raise self.error
        self.sender.finish()

    def _decode_loop(self) -> None:
        try:
            self._decode_tokens()
        except Exception as err:  # reported by finish(), in the caller's thread
            self.error = err

    def _decode_tokens(self) -> None:
        ended = False
        while True:
            item = self.tokens.get()
            if item is _END:
                break
            position, token = item
            if ended or position < len(self.ids):  # EOS seen, or a token of the prompt
                continue
            if token == self.eos_id:
                ended = True
                self._schedule(self.ids)
                continue
            if token == self.bar_id and len(self.ids) > self.prompt_len:
                self._schedule(self.ids)  # every note before this Bar is complete
            self.ids.append(token)
        if not ended:
            self._schedule(self.ids)

    def _schedule(self, ids: list[int]) -> None:
        special = self.run.meta.special_ids
        body = [i for i in ids if i not in (special.bos, special.eos, special.pad)]
        if not body:
            return
        score = views.decode(self.run.tokenizer, self.run.meta, body)
        if self.tempo is not None:
            conditioning.set_tempo(score, self.tempo)
        seconds = score.to("second")
        if self.clock is None:
            self.clock = time.monotonic() + LEAD_S
        for tick_track, track in zip(score.tracks, seconds.tracks, strict=True):
            channel = self._channel(track.program, track.is_drum)
            for tick_note, note in zip(tick_track.notes, track.notes, strict=True):
                key = (track.program, track.is_drum, tick_note.time, tick_note.pitch)
                if key in self.sent:
                    continue
                self.sent.add(key)
                on = mido.Message(
                    "note_on", channel=channel, note=note.pitch, velocity=note.velocity
                )
                start = self.clock + note.time
                self.sender.send_at(start, on)
                off = mido.Message("note_off", channel=channel, note=note.pitch, velocity=0)
                self.sender.send_at(start + note.duration, off)

    def _channel(self, program: int, is_drum: bool) -> int:
        """The program's channel, sending its program change the first time it is used."""
        key = (program, is_drum)
        if key not in self.channels:
            melodic = sum(not drum for _, drum in self.channels)
            channel = DRUM_CHANNEL if is_drum else MELODIC_CHANNELS[melodic % len(MELODIC_CHANNELS)]
            self.channels[key] = channel
            if not is_drum:
                self.sender.send_at(
                    0.0, mido.Message("program_change", channel=channel, program=program)
                )
        return self.channels[key]


def stream_generate(
    run_dir: str | Path | LMRun,
    out_dir: str | Path,
    sampling: Sampling,
    *,
    port_name: str | None = None,
    port=None,
    prompt_midi: str | Path | None = None,
    controls: Controls | None = None,
    condition: conditioning.Condition | None = None,
    **output,
) -> list[Path]:
    """`generate` while its first piece plays on the MIDI output `port_name` (None: the first
    port), in time; returns, with the files written, once the piece has been played. `port`
    (an open mido output) replaces `port_name`. The tempo is the condition's (`--tempo`), else
    the piece's own tempo tokens.

    Raises:
        MidiOutError: no MIDI system or no such port (before anything is sampled).
    """
    run = run_dir if isinstance(run_dir, LMRun) else load_lm_run(run_dir)
    condition = condition or conditioning.Condition()
    port = port if port is not None else open_output(port_name)
    sender = TimedSender(port)
    streamer = BarStreamer(run, _prompt(run, prompt_midi, condition), sender, condition.tempo)
    try:
        paths = generate(
            run,
            out_dir,
            sampling,
            prompt_midi=prompt_midi,
            controls=controls,
            condition=condition,
            on_token=streamer.tap,
            **output,
        )
    except BaseException:  # an error or Ctrl-C: nothing may keep sounding
        sender.close()
        raise
    streamer.finish()
    return paths


def _prompt(run: LMRun, primer, condition: conditioning.Condition) -> list[int]:
    """The ids the sampler starts from (so the streamer knows where new tokens begin)."""
    if condition.is_empty:
        return engine.prompt_ids(run, engine.run_grammar(run), primer)[0]
    return conditioning.plan(run.tokenizer, run.meta, condition, str(run.run_dir)).prompt
