"""The Bach chorales of music21's corpus: our key and music21's ``analyze('key')`` against the
key each score states.

The stated key: music21 parses the score's first key signature together with its ``<mode>``
(MusicXML) into a ``music21.key.Key`` (tonic and mode); files whose signature carries no mode
(a bare ``KeySignature``) have no stated mode and are left out, and counted. Ours runs on the
score as ``symbolic`` converts it (``symbolic.data.convert.load_score``); music21's on the
parsed score itself.
"""

from __future__ import annotations

from pathlib import Path

import mir_eval

from symbolic.analysis import analyze
from symbolic.music.chords import ROOTS

SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn")  # not the .rntxt harmonic analyses


def chorale_paths() -> list[Path]:
    """Every Bach score in music21's corpus (MusicXML and .krn: the chorales and a few other
    pieces), sorted by name."""
    from music21 import corpus

    paths = (Path(p) for p in corpus.getComposer("bach"))
    return sorted((p for p in paths if p.suffix.lower() in SCORE_SUFFIXES), key=lambda p: p.name)


def _name(key) -> str:
    return f"{ROOTS[key.tonic.pitchClass]} {key.mode}"


def evaluate_chorale(path: Path) -> dict:
    """Scores of one chorale; ``stated`` None when its score states no mode."""
    from music21 import converter
    from music21 import key as m21key

    from symbolic.data.convert import load_score

    parsed = converter.parse(str(path))
    stated = parsed.flatten().getElementsByClass(m21key.Key).first()
    if stated is None or stated.mode not in ("major", "minor"):
        return {"file": path.name, "stated": None}
    reference = _name(stated)
    ours = analyze(load_score(path)).key.harte()
    theirs = _name(parsed.analyze("key"))
    out = {"file": path.name, "stated": reference}
    for who, estimate in (("ours", ours), ("music21", theirs)):
        weighted = mir_eval.key.weighted_score(reference, estimate)
        out[f"{who}_weighted"], out[f"{who}_exact"] = weighted, float(weighted == 1.0)
    return out
