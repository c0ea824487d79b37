"""Audio for the transcriber: rendered training data, features, frame targets, note decoding.

Sits above `output/` (it renders through `symbolic.output.render`, the one FluidSynth path) and
below `models/` and `training/`; never imports jax. `symbolic.transcription` runs a trained
transcriber over these features.
"""
