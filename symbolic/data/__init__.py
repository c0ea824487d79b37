"""Data sets: manifests of a folder of works, faithful score conversion (music21, symusic), task
views (melody, chords, drums), chord extraction, atomic parallel ``prepare`` to token arrays plus
``meta.json``, random-window batches, fill-in-the-middle reordering and VAE segments.

May import ``symbolic.music`` and ``symbolic.tokenization``. Never imports jax, so preparing data
runs and is tested without it.
"""
