# Bodyguard: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint lint-ruff elasticsearch es-stop clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

elasticsearch:
	scripts/elasticsearch.sh start

es-stop:
	scripts/elasticsearch.sh stop

demo: install elasticsearch
	$(PY) -m demo

test: install elasticsearch lint-ruff
	$(PY) -m pytest

lint-ruff: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

lint: lint-ruff
	$(VENV)/bin/mypy .

clean:
	rm -rf var test-artifacts .pytest_cache .mypy_cache .ruff_cache
