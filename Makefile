# Bodyguard: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-postgres test-sqlite lint lint-ruff eval bench elasticsearch es-stop postgres pg-stop clean messages browser axe

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

install: $(STAMP)

elasticsearch:
	scripts/elasticsearch.sh start

es-stop:
	scripts/elasticsearch.sh stop

# The production database, for the test suite: DATABASE_URL if it names a PostgreSQL server,
# otherwise a local cluster of Debian's postgresql (installed when absent) on a free port.
postgres:
	scripts/postgres.sh start

pg-stop:
	scripts/postgres.sh stop

demo: install elasticsearch
	$(PY) -m demo

# The whole suite on PostgreSQL (production), then on SQLite (the embedded default) the tests about
# SQLite and those about what each database enforces itself (triggers, locks).
test: install elasticsearch browser axe postgres lint-ruff
	$(MAKE) --no-print-directory test-postgres test-sqlite

test-postgres:
	DATABASE_URL="$$(scripts/postgres.sh url)" $(PY) -m pytest

test-sqlite:
	DATABASE_URL= $(PY) -m pytest -m "sqlite or both_engines"

# Debian's Chromium for the browser tests: Playwright drives it and downloads no browser.
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "The browser tests need Debian's chromium: apt-get install chromium (as root)"; exit 1; fi; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core \
	  || { echo "Could not install chromium with apt-get; install it, then run make test again"; exit 1; }; }

# axe-core from the npm registry (pinned, SHA-512 checked) for the accessibility checks run
# inside the browser tests: nothing is fetched from a CDN while they run.
axe:
	scripts/axe-core.sh >/dev/null

lint-ruff: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

lint: lint-ruff
	$(VENV)/bin/mypy .

# Quality on real material: recall/precision per disguise, per photo transform and per video
# alteration.
eval: install
	$(PY) -m bench.eval_names
	$(PY) -W ignore -m bench.eval_photos
	$(PY) -W ignore -m bench.eval_retro
	$(PY) -W ignore -m bench.eval_videos
	$(PY) -W ignore -m bench.eval_device_sift --draws 2

# Speed, with the baseline measured in the same run.
bench: install elasticsearch postgres
	$(PY) -m bench.bench_names
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -W ignore -m bench.bench_images
	$(PY) -W ignore -m bench.bench_crawl
	$(PY) -W ignore -m bench.bench_nodes
	$(PY) -W ignore -m bench.bench_queue
	$(PY) -W ignore -m bench.bench_retro
	$(PY) -W ignore -m bench.bench_backscan
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -W ignore -m bench.bench_videos

# After changing user-facing text: refresh the French catalogue, translate, compile.
messages: install
	$(PY) manage.py makemessages -l fr -i ".venv/*" -i "var/*" -i "tests/*" -i "bench/*"
	$(PY) manage.py compilemessages -l fr -i .venv

clean:
	rm -rf var test-artifacts .pytest_cache .mypy_cache .ruff_cache
