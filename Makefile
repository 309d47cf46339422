# Two commands on a fresh machine: `make demo` runs the embedded default pipeline, `make test` the tests.
# CONFIG=config/ci.yaml (any config) switches the workflow targets to another config.
PYTHON ?= python3
VENV ?= .venv
CORES ?= all
CONFIG ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SNAKEMAKE := $(BIN)/snakemake $(if $(CONFIG),--configfile $(CONFIG))
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test install lint figures report dry-run-paper bench clean

demo: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@# Parallel bz2 decompression for extraction (Debian's lbzip2; Python's bz2 in a child process otherwise).
	@command -v lbzip2 >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get install -y -qq lbzip2 >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && \
		apt-get install -y -qq lbzip2 >/dev/null 2>&1; }) && echo "installed lbzip2"; } || \
		echo "note: lbzip2 not installed (apt-get install lbzip2 speeds up extraction); using Python's bz2"
	touch $@

lint: $(STAMP)
	$(SNAKEMAKE) --lint

# Every figure and table from scratch: reruns the figure_* and table_* rules and nothing else (analyses they
# read that are missing are built first), then writes the HTML report.
figures: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES) figures --forcerun \
		$$($(SNAKEMAKE) --list-rules 2>/dev/null | grep -E '^(figure|table)_' | tr '\n' ' ')
	$(MAKE) report

report: $(STAMP)
	$(SNAKEMAKE) figures --report results/report.html

dry-run-paper: $(STAMP)
	$(BIN)/snakemake -n --profile slurm --configfile config/paper.yaml

bench: $(STAMP)
	$(BIN)/python benchmarks/corpus.py --size-mb 50
	$(BIN)/python benchmarks/tickets.py
	$(BIN)/python benchmarks/sft.py

clean:
	rm -rf results
	rm -rf logs .snakemake resources/demo resources/dumps
