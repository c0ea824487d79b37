#!/usr/bin/env bash
# The README's second command: install, lint, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
.venv/bin/ruff check symbolic tests benchmarks
.venv/bin/ruff format --check symbolic tests benchmarks
.venv/bin/python -m pytest -q tests "$@"
