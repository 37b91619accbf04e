# citeqa — `make run` starts the chat app, `make test` runs every test. Both bootstrap .venv first.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test test-fast index serve lint bench bench-quality browser-deps clean reader

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[test,bench,ray]"
	@touch $(STAMP)

venv: $(STAMP)

index: $(STAMP)
	$(BIN)/citeqa index

run: $(STAMP)
	$(BIN)/citeqa index
	$(BIN)/citeqa serve

browser-deps:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"

test: $(STAMP) browser-deps
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q -ra

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration and not browser"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

# trains the reading model on ../shared/qa_train (about 65-90 min on 2 cores; resumes; never part of `make test`)
reader: $(STAMP)
	$(BIN)/python -m citeqa.train

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

bench-quality: $(STAMP)
	$(BIN)/python benchmarks/quality.py
	$(BIN)/python benchmarks/heldout.py

clean:
	rm -rf $(VENV) index/data-* index/CURRENT
