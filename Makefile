# Two commands on a fresh machine: `make demo` runs the embedded default pipeline, `make test` the tests.
PYTHON ?= python3
VENV ?= .venv
CORES ?= all
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test install lint figures dry-run-paper clean bench

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

lint: $(STAMP)
	$(BIN)/snakemake --lint

# Every figure and table from scratch: reruns the analysis_*, figure_* and table_* rules and nothing upstream.
figures: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) figures --forcerun $$($(BIN)/snakemake --list-rules 2>/dev/null | grep -E '^(analysis|figure|table)_' | tr '\n' ' ')
	$(BIN)/snakemake figures --report results/report.html

dry-run-paper: $(STAMP)
	$(BIN)/snakemake -n --profile slurm --configfile config/paper.yaml

bench: $(STAMP)
	$(BIN)/python benchmarks/corpus.py

clean:
	rm -rf results logs .snakemake resources/demo
