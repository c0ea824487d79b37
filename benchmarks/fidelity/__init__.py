"""Fidelity of the MIDI path on real folders: notes, grid, tracks, melody track, meters, leaks."""
