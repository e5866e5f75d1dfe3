# Two commands set up everything on a fresh machine: `make run` and `make test`.
VENV ?= .venv
# Python may cache the bytecode of what it imports in this project's own .venv and src/: where the
# environment says not to (PYTHONDONTWRITEBYTECODE, common in container images), every process compiled
# torch, polars and the rest again (about 9 s each; Ray's worker processes in the tests alike:
# tests/model/test_distributed.py 151 s -> 80-90 s).
export PYTHONDONTWRITEBYTECODE=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test install clean bench browser

# What `make run` needs, no more: the tests' extras (Ray, pytest, Playwright) come with `make test`.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	# Pinned here (not in pyproject) so pip takes the local CPU wheel, not a multi-GB CUDA build.
	# --no-compile: Python compiles what a run imports on first use; pip's compiling of every file took
	# half the install (fresh venv: 67-82 s with it, 35-41 s without; the first run imports ~6 s slower).
	$(PY) -m pip install -q --no-compile torch==2.13.0
	$(PY) -m pip install -q --no-compile -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install -q --no-compile -e '.[dev,ray]'  # Ray: the tests cover --engine ray on a local cluster
	touch $(TEST_STAMP)

install: $(STAMP)

# The backtest and the plan for the fortnight after the Complete Journey (configs/make-run.toml; bench/results/make-run.json has the measured time); prints where the offers are.
run: $(STAMP)
	$(VENV)/bin/offerwise run --data complete-journey --config configs/make-run.toml

# Chromium renders the report in one test; without it (no root, no apt) that test is skipped, except in CI.
browser:
	@bash scripts/install-browser.sh || echo "note: Chromium unavailable; the report-rendering test will be skipped"

test: $(TEST_STAMP) browser
	$(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	$(PY) bench/panel.py

clean:
	rm -rf $(VENV) .pytest_cache
