"""What a trained transcriber run is for: `TranscriberRun` (audio -> activations -> notes ->
MIDI, continuing with a language model) and its evaluation with mir_eval. Above `training/`
(it loads checkpoints) and `audio/` (features, decoding)."""
