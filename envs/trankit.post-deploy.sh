#!/usr/bin/env bash
# Run by Snakemake once, inside the new trankit env, right after creating it (the only time this env
# downloads anything): Trankit's Arabic, Hebrew and Armenian models and XLM-R base, into the folder the
# split jobs read (langtickets.corpus.splitters.TRANKIT_MODELS lists which language uses which model).
set -euo pipefail
CACHE="${LANGTICKETS_TRANKIT_CACHE:-$HOME/.cache/langtickets/trankit}"
python - "$CACHE" <<'PY'
import sys

import trankit

for model in ("arabic", "hebrew", "armenian"):
    trankit.Pipeline(model, cache_dir=sys.argv[1], gpu=False)
PY
