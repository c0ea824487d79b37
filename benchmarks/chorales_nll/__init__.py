"""JSB Chorales note-wise NLL (nats per voice-token) and frame-level NLL, on the standard split.

`python -m benchmarks.chorales_nll [--quick] [--only PART]`; see results.md for the protocol and
the figures.
"""
