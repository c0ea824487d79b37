"""Generation: trained Transformer/LSTM run -> tokens -> Scores -> MIDI files.

Modules, low to high: settings (the `Sampling` and `Controls` records), grammar and constraints
(numpy token automata), conditioning (chords, melody, tempo as model input), processors (logit
masks and the one `Masks` record), sampling and beam (pure jnp loops), engine (`LoadedRun`, the
jitted sampler), infill (fill-in-the-middle), run (`LMRun`: sample, continue_from, infill ->
Scores) and generate (`generate`, `generate_infill`, `write_midi`: the CLI's path to files).

May import ``symbolic.music``, ``symbolic.tokenization``, ``symbolic.data``, ``symbolic.output``,
``symbolic.models`` and ``symbolic.training`` (checkpoints); never vae or cli code.
"""
