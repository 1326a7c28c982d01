# Two commands: `make run` serves the app, `make test` runs the whole suite. Both set up .venv themselves.
VENV ?= .venv
PORT ?= 8501
PY := $(VENV)/bin/python

.PHONY: run test lint format setup setup-dev bench load engines docker clean

setup:
	@scripts/setup.sh

setup-dev:
	@scripts/setup.sh --dev

run: setup
	$(VENV)/bin/streamlit run Home.py --server.port $(PORT)

# ruff (lint + format, settings in pyproject.toml), then the whole suite (the layering test included)
test: setup-dev lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# rewrite what `make lint` complains about and can fix by itself
format: setup-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup-dev
	$(PY) -m bench

# 30 students for 5 minutes (LOAD_SESSIONS, LOAD_SECONDS shorten it); last line: one JSON object.
# LOAD_ENGINES=inprocess,server runs it once per engine of the local model and compares them.
load: setup-dev
	$(PY) -m bench.load

# the local model's engines without the app: one student in-process vs llama-server, and a --parallel sweep
engines: setup-dev
	$(PY) -m bench.engines

docker:
	docker build -t llm-engineering-lab . && docker run --rm -p 8501:8501 llm-engineering-lab

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
