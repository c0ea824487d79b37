"""What a trained GAN run is for: multi-track piano-roll phrases from scratch, latent walks,
accompaniment of a given track, and MuseGAN's metrics of them. The CLI's `symbolic gan ...`
commands only wire these.

    run = load_gan("runs/gan")                  # a GANRun
    scores = run.sample(4, seed=0)              # -> list[symusic.Score], one track per GAN track
    score = run.accompany("soprano.mid", "soprano")

Modules, low to high: run (GANRun, load_gan), files (MIDI, plots and WAVs), evaluation (the
metrics of generated and real phrases). gan/ may import data/, music/, output/, models/ and
training/ (checkpoints), never generation/ or cli/.
"""

from symbolic.gan.run import GANRun, load_gan

__all__ = ["GANRun", "load_gan"]
