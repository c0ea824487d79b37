"""The infill benchmark's spans and smooth-landing measure, on real prepared chorales."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from benchmarks.infill import measure
from symbolic import tokenization
from symbolic.data.meta import load_meta


@pytest.fixture(scope="module")
def decoder(chorale_data_dir):
    """What `measure.leads_smoothly` reads from a run: its tokenizer and meta."""
    tokenizer = tokenization.load_tokenizer(chorale_data_dir / "tokenizer.json")
    return SimpleNamespace(tokenizer=tokenizer, meta=load_meta(chorale_data_dir))


@pytest.mark.parametrize("bars", [1, 2, 4])
def test_spans_are_whole_bars_with_a_bar_on_each_side(chorale_data_dir, decoder, bars):
    bar = decoder.tokenizer.vocab["Bar_None"]
    pieces = measure.held_out_pieces(chorale_data_dir)
    spans = measure.draw_spans(pieces, bar, bars, seed=0)
    assert spans and spans == measure.draw_spans(pieces, bar, bars, seed=0)
    for span in spans:
        cut = span.split
        assert [*cut.prefix, *cut.middle, *cut.suffix] == pieces[span.piece]
        assert cut.middle[0] == bar and cut.middle.count(bar) == bars
        assert cut.prefix[0] == bar and cut.suffix[0] == bar


def test_a_voice_leaping_two_octaves_into_the_suffix_is_not_smooth(chorale_data_dir, decoder):
    vocab = decoder.tokenizer.vocab
    bar, soprano = vocab["Bar_None"], vocab["Program_40"]
    pieces = measure.held_out_pieces(chorale_data_dir)
    spans = measure.draw_spans(pieces, bar, 2, seed=0)
    smooth = [s for s in spans if measure.leads_smoothly(decoder, s.split, s.split.middle)]
    assert smooth  # real chorales mostly move by steps
    names = {i: t for t, i in vocab.items()}
    for span in smooth:
        middle = list(span.split.middle)
        # the soprano's last note: the Pitch token after the middle's last Program_40
        at = len(middle) - 1 - middle[::-1].index(soprano) + 1
        pitch = int(names[middle[at]].removeprefix("Pitch_"))
        middle[at] = vocab[f"Pitch_{pitch - 24}"]
        assert measure.leads_smoothly(decoder, span.split, middle) is False
