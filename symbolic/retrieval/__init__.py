"""Recommendation: "more like this" over a folder of MIDI files.

- `features`: the model-free embedding (numpy; transposition- and tempo-invariant histograms);
- `embedders`: that one, a VAE run's mean latent and a Transformer run's mean hidden state, each
  with `file_rows(path)` / `query_rows(path)`;
- `index`: the `Index` (a plain float32 array of unit rows + the file list in JSON) and its search;
- `build`: `build_index(folder, out)` (parallel, bad files skipped with their reason) and
  `similar(query, index)`.

A high room: it may import data/, music/, vae/, generation/ and models/; only the public API
(`symbolic.index`, `symbolic.similar`, `symbolic.load_index`) and cli/ import it.
"""
