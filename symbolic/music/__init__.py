"""Music theory on plain numbers: the leaf every stage may import.

Owns keys (``keys``: a tonic and mode, parsed and estimated), meter (``meter``), note clean-up on
numpy note arrays (``notes``), the chord vocabulary and template matching (``chords``) and the
objective metrics of generated music (``metrics``). Imports numpy and the standard library only:
no jax, no miditok, no music21, and nothing else of ``symbolic``.
"""
