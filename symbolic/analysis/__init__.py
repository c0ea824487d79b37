"""Music analysis of any MIDI file: key and key regions, tempo, beats, downbeats and meter,
chords per beat (Harte syntax), the melody track and repeated sections.

A low room: numpy, symusic and ``symbolic.music`` only, never jax and never ``data/`` or
above, so that the chord view and the melody view (``data/``) and the MIDI writer's key
signature (``output/``) share its one key finder, chord recogniser and melody-track finder.
``symbolic.analyze(path_or_score)`` is ``analyze`` here.
"""

from __future__ import annotations

from symbolic.analysis.result import Analysis, Chord, analyze

__all__ = ["Analysis", "Chord", "analyze"]
