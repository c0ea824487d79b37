#!/usr/bin/env bash
# The README's first command: install, then prepare the Bach chorales, train the demo Transformer
# and write generated MIDI + WAV into ./demo (or the folder given as $1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
.venv/bin/symbolic demo --out "${1:-demo}"
