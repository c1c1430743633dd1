# Thin door to the project: a virtualenv, the install, then Snakemake or pytest.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install reproduce test check report dry-run clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# profiles/local on a machine with an NVIDIA GPU, else profiles/cpu (one-thread jobs side by side).
PROFILE ?= $(if $(shell command -v nvidia-smi 2>/dev/null),profiles/local,profiles/cpu)

## The whole default grid on embedded data: tables, figures and results/report.html.
reproduce: $(STAMP)
	$(BIN)/snakemake --workflow-profile $(PROFILE)
	$(BIN)/snakemake --workflow-profile $(PROFILE) --report results/report.html

## The test suite.
test: $(STAMP)
	$(BIN)/python -m pytest

## Lint: ruff check and ruff format --check.
check: $(STAMP)
	$(BIN)/ruff check mnpo tests workflow/scripts benchmarks
	$(BIN)/ruff format --check mnpo tests workflow/scripts benchmarks

dry-run: $(STAMP)
	$(BIN)/snakemake --workflow-profile $(PROFILE) -n

clean:
	rm -rf results/data results/models results/logits results/cams results/metrics \
	       results/tables results/figures results/benchmarks results/report.html logs .snakemake
