#!/usr/bin/env bash
# The README's second command: install, lint, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
.venv/bin/ruff check
.venv/bin/ruff format --check
.venv/bin/python -m pytest -q tests "$@"
