"""Real-time MIDI output through mido's python-rtmidi backend: list ports, play a file, and send
messages at given times (`TimedSender`, for live streaming).

Needs the optional `python-rtmidi` package and, on Linux, an ALSA sequencer (/dev/snd/seq).
Without either, `MidiOutError` says so in one line, so the CLI prints one clear error.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import threading
import time
from pathlib import Path

import mido


class MidiOutError(RuntimeError):
    """No MIDI output is possible here (missing backend, no ALSA, unknown port)."""


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2: ALSA's C library prints its own error there, and the
    MidiOutError already says the same in one line."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _backend():
    """mido's rtmidi backend, or a one-line MidiOutError explaining why it is unusable."""
    try:
        backend = mido.Backend("mido.backends.rtmidi", load=True)
        with _quiet_stderr():
            backend.get_output_names()  # opens the ALSA/CoreMIDI/WinMM client
    except ImportError as err:
        raise MidiOutError(
            f"MIDI output needs python-rtmidi (pip install python-rtmidi): {err}"
        ) from None
    except Exception as err:  # rtmidi raises its own SystemError subclasses
        reason = " ".join(str(err).split())
        raise MidiOutError(f"no MIDI system available (is ALSA present?): {reason}") from None
    return backend


def list_ports() -> list[str]:
    """Names of the MIDI output ports."""
    return list(_backend().get_output_names())


def open_output(name: str | None = None, virtual: bool = False):
    """An open output port: `name` (None: the first), or a new virtual port called `name`."""
    backend = _backend()
    if not virtual and name is not None and name not in backend.get_output_names():
        raise MidiOutError(f"no MIDI output port {name!r}; ports: {backend.get_output_names()}")
    try:
        return backend.open_output(name, virtual=virtual)
    except Exception as err:
        raise MidiOutError(f"cannot open MIDI output {name!r}: {err}") from None


def play(path: str | Path, port_name: str | None = None, *, port=None, realtime: bool = True):
    """Send the messages of the MIDI file `path` to `port` (or the port called `port_name`).

    `realtime` False sends without waiting between messages (for tests). All notes are
    turned off at the end, also after Ctrl-C. Returns the number of messages sent.
    """
    try:
        midi = mido.MidiFile(path)
    except (OSError, EOFError, ValueError) as err:
        raise ValueError(f"{path}: not a readable MIDI file ({err})") from None
    own = port is None
    port = port or open_output(port_name)
    sent = 0
    try:
        for msg in midi.play() if realtime else midi:
            if not msg.is_meta:
                port.send(msg)
                sent += 1
    finally:
        port.reset()  # all notes off, so nothing hangs after an interruption
        if own:
            port.close()
    return sent


class TimedSender:
    """Sends MIDI messages to `port` at wall-clock times (``time.monotonic()`` seconds) from a
    thread of its own, so that a producer can schedule notes ahead of playback.

    `send_at(when, msg)` queues a message; one whose time has passed goes out at once. `finish()`
    waits until every queued message has been sent, then turns all notes off (`port.reset()`),
    as `close()` does at once without waiting.
    """

    def __init__(self, port):
        self.port = port
        self._queue: list[tuple[float, int, mido.Message]] = []
        self._order = itertools.count()  # ties keep their order: a note_off before a note_on
        self._wake = threading.Condition()
        self._closing = self._draining = False
        self._thread = threading.Thread(target=self._run, name="midi-sender", daemon=True)
        self._thread.start()

    def send_at(self, when: float, msg: mido.Message) -> None:
        with self._wake:
            heapq.heappush(self._queue, (when, next(self._order), msg))
            self._wake.notify()

    def _run(self) -> None:
        with self._wake:
            while True:
                if self._closing or (self._draining and not self._queue):
                    return
                if not self._queue:
                    self._wake.wait()
                    continue
                due = self._queue[0][0] - time.monotonic()
                if due > 0:
                    self._wake.wait(min(due, 0.05))
                    continue
                _, _, msg = heapq.heappop(self._queue)
                self.port.send(msg)

    def finish(self) -> None:
        """Wait for every queued message, then all notes off."""
        with self._wake:
            self._draining = True
            self._wake.notify()
        self._thread.join()
        self.port.reset()

    def close(self) -> None:
        """Stop now (Ctrl-C): the rest is dropped and all notes are turned off."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()
        self.port.reset()
