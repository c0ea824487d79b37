"""`symbolic prepare` (every core) against a plain single-process music21 + MidiTok loop."""
