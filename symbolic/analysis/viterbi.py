"""The one smoothing of analysis: the best path through per-step scores with a price per change
(key regions over windows, chords over beats). Numpy only."""

from __future__ import annotations

import numpy as np


def viterbi(scores: np.ndarray, penalty: float) -> np.ndarray:
    """The state path ``[T]`` int maximising the summed ``scores`` ``[T, S]`` minus
    ``penalty`` per change of state."""
    steps, states = scores.shape
    total, back = scores[0].copy(), np.zeros((steps, states), int)
    for t in range(1, steps):
        best = int(np.argmax(total))
        stay = total
        switch = total[best] - penalty
        back[t] = np.where(stay >= switch, np.arange(states), best)
        total = np.maximum(stay, switch) + scores[t]
    path = np.zeros(steps, int)
    path[-1] = int(np.argmax(total))
    for t in range(steps - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path
