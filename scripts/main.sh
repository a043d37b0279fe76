#!/usr/bin/env bash
# The main job: set up, make Docker available, then run the baseline agent on pump-failure
# (its latest version, v2: prediction cases).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/ensure_docker.sh
exec .venv/bin/mledojo run "${1:-pump-failure}" --agent "${AGENT:-baseline}" --seed "${SEED:-0}" --sandbox docker
