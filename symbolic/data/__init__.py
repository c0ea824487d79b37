"""Manifests, score conversion, prepare (MIDI -> token arrays) and batching. Never imports jax."""
