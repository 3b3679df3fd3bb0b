# Two commands matter: `make demo` and `make test`. Each does the whole, idempotent set-up first:
# a virtualenv in .venv, the project with its dev extras, and a Chromium (Debian's through apt
# when none is found and apt is there, else Playwright's own).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
AIJIA  := $(VENV)/bin/aijia
STAMP  := $(VENV)/.installed
# one pytest worker per core, at most 4 (each has its own sandbox, Chromium and temp dirs);
# `make test TEST_WORKERS=0` runs in one process
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup browser postgres demo test test-scale lint typecheck unit bench clean

setup: $(STAMP) browser

# The scale tests start a throwaway PostgreSQL (initdb into a temp dir); Debian's package gives
# the server binaries. `make demo` does not need it: the embedded store is SQLite.
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then \
		echo "postgres: $$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)"; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "postgres: installing Debian's postgresql"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; \
	else \
		echo "postgres: no apt-get here; the PostgreSQL tests will be skipped"; \
	fi

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,ai,scale]'
	touch $(STAMP)

browser: $(STAMP)
	@if $(PY) -m agent.browser >/dev/null 2>&1; then \
		echo "browser: $$($(PY) -m agent.browser)"; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "browser: installing Debian's chromium"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "browser: installing Playwright's chromium"; \
		$(PY) -m playwright install chromium; \
	fi

demo: setup
	$(AIJIA) demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(STAMP)
	$(VENV)/bin/mypy agent evidence sandbox cli.py

test: setup postgres lint typecheck   # everything: real Chromium against the sandbox (~18 min on 2 cores)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

test-scale: setup postgres   # the issue-15 stack tests at full size: 200 paused gates (~20 min)
	AIJIA_PAUSED_GATES=200 $(PY) -m pytest -q tests/scale_kill

unit: setup   # the fast tier: no Chromium, no sandbox (`browser` marker, see tests/conftest.py)
	$(PY) -m pytest -m "not browser" -q

bench: setup   # figures in bench/REPORT.md; each prints its own
	$(PY) -m bench --rounds 12 --orders 32
	$(PY) -m bench.capture 10
	$(PY) -m bench.approval_latency --rounds 7
	$(PY) -m bench.approve_to_refund --rounds 10
	$(PY) -m bench.scale --rounds 3 --orders 24      # Temporal workers: 1, 2, 4 (section Scale)
	$(PY) -m bench.scale_store                       # store writes: SQLite vs PostgreSQL
	$(PY) -m bench.verify_store 10000

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
