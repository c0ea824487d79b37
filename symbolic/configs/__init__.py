"""Named training presets, as JSON files read by ``symbolic.training.config``: data, not code."""
