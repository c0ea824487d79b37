"""Objective metrics (MusPy-style) of generated against held-out real chorales, with Yang &
Lerch's overlapping area and KL, for the Transformer, the LSTM, an n-gram and random baselines."""
