"""Decoded scores out to the world: DAW-ready MIDI files (``midi``), WAV through FluidSynth
(``render``), piano-roll pictures (``plot``) and real-time MIDI ports (``ports``).

May import ``symbolic.music``, ``symbolic.tokenization`` and ``symbolic.data``; never jax or any
model, training or generation code. matplotlib and python-rtmidi are imported lazily, when asked.
"""
