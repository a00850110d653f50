# Two commands for a newcomer on a fresh machine:
#   make chat   set up .venv, build the index on seeds/ if needed, serve the chat on http://127.0.0.1:7860
#   make test   set up .venv (and Debian's Chromium for the browser tests), then ruff, mypy and the whole test suite
# The fast lane while you work:
#   make check  ruff, mypy, the import-direction contracts and the unit tests (no real model, no browser): < 1 min
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup chat ask test check lint chromium bench eval clean-index

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

chat: setup
	$(BIN)/rag chat

ask: setup
	$(BIN)/rag ask "When did Turkey and Syria sign the memorandum of understanding?"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy rag eval bench
	$(BIN)/lint-imports --no-cache

check: lint
	$(BIN)/pytest -q -m "not integration and not browser"

test: lint chromium
	$(BIN)/pytest -q

eval: setup
	$(BIN)/rag eval --corpus seeds --gold eval/gold/seed.jsonl

bench: setup
	$(BIN)/rag bench

clean-index:
	rm -rf index/CURRENT index/gen-* index/.tmp-* index/.lock
