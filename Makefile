# Two entry points that work on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test install install-test lint bench clean kube-double cloudrun-double

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

## Open the cockpit on the bundled demo environment.
## (compileall: an editable install has no bytecode, and with PYTHONDONTWRITEBYTECODE
## set every start would compile ~11,000 lines of the cockpit again, ~110 ms)
run: install
	$(BIN)/python -m compileall -q src >/dev/null
	$(BIN)/cockpit $(ARGS)

## Install the test extras and run the whole suite (lint included).
test: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## A seeded Kubernetes double (two contexts) and the runbook's services; prints the exports.
kube-double: install-test
	$(BIN)/python -m tests.kubedouble --seed meta-salvage $(ARGS)

cloudrun-double: install-test
	$(BIN)/python -m tests.gcpdouble --seed tai-erlang $(ARGS)

lint: install-test
	$(BIN)/ruff check src tests bench

bench: install-test
	$(BIN)/python bench/audit_scan.py
	$(BIN)/python bench/log_ingest.py
	$(BIN)/python bench/tui_pty.py
	$(BIN)/python bench/redact.py
	$(BIN)/python bench/escape_leak.py
	$(BIN)/python bench/profile_validate.py
	$(BIN)/python bench/metrics_scrape.py
	$(BIN)/python bench/audit_append.py
	$(BIN)/python bench/kube_tui.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
