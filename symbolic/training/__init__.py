"""Training: the typed run config and presets (``config``), losses and objectives, the optimizer,
the train state, the pure train/eval steps, data-parallel shardings (``parallel``), Orbax
checkpoints, the one ``TrainLoop`` (``trainer``: early stopping, the metrics.jsonl writer), the
batch sources of prepared directories (``sources``) and evaluation of a finished run.

May import ``symbolic.models``, ``symbolic.data``, ``symbolic.music`` and
``symbolic.tokenization``; never generation, vae, output or cli code.
"""
