"""JSB Chorales on the standard split, and the SATB voice-token serialisation (numpy only).

The 16th-note file holds, per chorale, a grid [steps, 4] of soprano, alto, tenor and bass pitches
(NaN for a silent voice). A chorale becomes one sequence:

    [BOS, S_0, A_0, T_0, B_0, S_1, A_1, T_1, B_1, ..., B_{n-1}, EOS]

one token per voice per 16th step, pitch tokens shared by all voices, one REST token for a silent
voice. Token i >= 1 is voice (i - 1) % 4 of step (i - 1) // 4. The quarter-note file holds, per
chorale, a list of frames, each the MIDI pitches sounding on that beat; it becomes a binary piano
roll [frames, 88] for the frame-level table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

SPLITS = ("train", "valid", "test")
VOICES = ("soprano", "alto", "tenor", "bass")
NUM_VOICES = len(VOICES)
ENV_VAR = "SYMBOLIC_JSB_DIR"
GRID_FILE = "Jsb16thSeparated.npz"
QUARTER_FILE = "jsb-chorales-quarter.json"

PAD, BOS, EOS, REST = 0, 1, 2, 3
LOWEST_PITCH, HIGHEST_PITCH = 36, 81  # range of the training split; valid and test lie inside it
PITCH_OFFSET = REST + 1
VOCAB_SIZE = PITCH_OFFSET + HIGHEST_PITCH - LOWEST_PITCH + 1  # 50
SILENT = -1  # a silent voice in a grid
PIANO_LOW, PIANO_KEYS = 21, 88  # A0..C8, the piano roll of the frame-level literature

Grid = np.ndarray  # [steps, 4] int16 MIDI pitch, SILENT for a silent voice


class DataMissing(FileNotFoundError):
    """The JSB files are not where they should be."""


def data_dir() -> Path:
    """$SYMBOLIC_JSB_DIR, else ../shared/data/jsb beside the repository root."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "jsb"


def require_data(root: Path | None = None) -> Path:
    """The data folder, or DataMissing with a one-line explanation."""
    root = Path(root) if root is not None else data_dir()
    missing = [name for name in (GRID_FILE, QUARTER_FILE) if not (root / name).is_file()]
    if missing:
        raise DataMissing(
            f"JSB Chorales not found: {root} lacks {', '.join(missing)} "
            f"(set {ENV_VAR} to the folder holding them)"
        )
    return root


def load_grids(root: Path | None = None) -> dict[str, list[Grid]]:
    """{split: [grid [steps, 4] int16]} from the Coconet-format npz (NaN -> SILENT)."""
    root = require_data(root)
    # The npz stores object arrays (one float16 grid per chorale); it is our own trusted copy.
    with np.load(root / GRID_FILE, allow_pickle=True, encoding="latin1") as npz:
        return {split: [grid_from_float(c) for c in npz[split]] for split in SPLITS}


def grid_from_float(chorale: np.ndarray) -> Grid:
    """[steps, 4] float with NaN for silence -> [steps, 4] int16 with SILENT."""
    chorale = np.asarray(chorale, np.float64)
    return np.where(np.isnan(chorale), SILENT, chorale).astype(np.int16)


def voice_tokens(grid: Grid) -> np.ndarray:
    """[steps, 4] pitches -> [steps, 4] int32 tokens (REST or a pitch token)."""
    grid = np.asarray(grid)
    sounding = grid != SILENT
    out_of_range = sounding & ((grid < LOWEST_PITCH) | (grid > HIGHEST_PITCH))
    if out_of_range.any():
        raise ValueError(
            f"pitches {sorted(set(grid[out_of_range].tolist()))} outside "
            f"[{LOWEST_PITCH}, {HIGHEST_PITCH}]"
        )
    return np.where(sounding, grid - LOWEST_PITCH + PITCH_OFFSET, REST).astype(np.int32)


def encode(grid: Grid) -> np.ndarray:
    """Grid [steps, 4] -> sequence [4 * steps + 2] int32: BOS, S A T B per step, EOS."""
    body = voice_tokens(grid).reshape(-1)  # row-major: step by step, S A T B within a step
    return np.concatenate([[BOS], body, [EOS]]).astype(np.int32)


def decode(tokens: np.ndarray) -> Grid:
    """Sequence [4 * steps + 2] (BOS ... EOS) -> grid [steps, 4] int16; inverse of `encode`."""
    tokens = np.asarray(tokens)
    if tokens[0] != BOS or tokens[-1] != EOS or (len(tokens) - 2) % NUM_VOICES:
        raise ValueError("expected BOS, a multiple of 4 voice tokens, EOS")
    body = tokens[1:-1].reshape(-1, NUM_VOICES)
    if (body < REST).any():
        raise ValueError("special token among the voice tokens")
    return np.where(body == REST, SILENT, body - PITCH_OFFSET + LOWEST_PITCH).astype(np.int16)


def is_voice_token(tokens: np.ndarray) -> np.ndarray:
    """Which tokens are scored (pitch or rest, not PAD/BOS/EOS): same shape, bool."""
    return np.asarray(tokens) >= REST


def transpositions(grid: Grid, max_shift: int) -> list[Grid]:
    """`grid` shifted by every whole number of semitones in [-max_shift, max_shift] (0 included)
    whose sounding pitches all stay inside [LOWEST_PITCH, HIGHEST_PITCH], so the vocabulary is
    unchanged."""
    grid = np.asarray(grid)
    sounding = grid[grid != SILENT]
    low, high = int(sounding.min()), int(sounding.max())
    return [
        np.where(grid == SILENT, SILENT, grid + shift).astype(np.int16)
        for shift in range(-max_shift, max_shift + 1)
        if low + shift >= LOWEST_PITCH and high + shift <= HIGHEST_PITCH
    ]


def load_frames(root: Path | None = None) -> dict[str, list[np.ndarray]]:
    """{split: [piano roll [frames, 88] float32]} from the quarter-note JSON."""
    root = require_data(root)
    raw = json.loads((root / QUARTER_FILE).read_text())
    return {split: [piano_roll(chorale) for chorale in raw[split]] for split in SPLITS}


def piano_roll(frames: list[list[int]]) -> np.ndarray:
    """Frames of sounding MIDI pitches -> binary [frames, 88] float32 (key 0 = A0 = MIDI 21)."""
    roll = np.zeros((len(frames), PIANO_KEYS), np.float32)
    for t, pitches in enumerate(frames):
        roll[t, np.asarray(pitches, np.int64) - PIANO_LOW] = 1.0
    return roll
