#!/usr/bin/env bash
# Run by Snakemake once, inside the new stanza env, right after creating it (the only time this env
# downloads anything): the Thai tokenize model, into the folder the split jobs read.
set -euo pipefail
export STANZA_RESOURCES_DIR="${STANZA_RESOURCES_DIR:-$HOME/stanza_resources}"
python -c "import os, stanza; stanza.download('th', processors='tokenize', model_dir=os.environ['STANZA_RESOURCES_DIR'])"
