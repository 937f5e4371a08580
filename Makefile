# Bodyguard: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint lint-ruff eval bench elasticsearch es-stop clean messages browser

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

test: install elasticsearch browser lint-ruff
	$(PY) -m pytest

# Debian's Chromium for the browser tests: Playwright drives it and downloads no browser.
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "The browser tests need Debian's chromium: apt-get install chromium (as root)"; exit 1; fi; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core \
	  || { echo "Could not install chromium with apt-get; install it, then run make test again"; exit 1; }; }

lint-ruff: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

lint: lint-ruff
	$(VENV)/bin/mypy .

# Quality on real material: recall/precision per disguise and per photo transform.
eval: install
	$(PY) -m bench.eval_names
	$(PY) -W ignore -m bench.eval_photos

# Speed, with the baseline measured in the same run.
bench: install
	$(PY) -m bench.bench_names
	$(PY) -W ignore -m bench.bench_images
	$(PY) -W ignore -m bench.bench_crawl
	$(PY) -W ignore -m bench.bench_backscan

# After changing user-facing text: refresh the French catalogue, translate, compile.
messages: install
	$(PY) manage.py makemessages -l fr -i ".venv/*" -i "var/*" -i "tests/*" -i "bench/*"
	$(PY) manage.py compilemessages -l fr -i .venv

clean:
	rm -rf var test-artifacts .pytest_cache .mypy_cache .ruff_cache
