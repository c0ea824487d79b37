"""What a trained MusicVAE run is for: encode MIDI to latents, decode, sample, interpolate, vary,
attribute vectors, similarity search and evaluation. The CLI's `symbolic vae ...` commands only
wire these.

    run = load_vae("runs/vae")                 # a VAERun
    z = run.encode("chorale.mid")              # [N, Z] posterior means of its segments
    scores = run.interpolate(z[0], z[-1], 5)   # -> list[symusic.Score]

Modules, low to high: latent (numpy: slerp), run (VAERun, load_vae, encode/decode), files (MIDI
and WAV writing), attributes, similarity, evaluation, commands (sample/interpolate/vary -> files).
vae/ may import data/, output/, models/ and training/ (checkpoints), never generation/ or cli/.
"""

from symbolic.vae.run import VAERun, load_vae

__all__ = ["VAERun", "load_vae"]
