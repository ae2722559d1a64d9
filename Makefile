# One set-up for everyone: a virtual environment with torch installed first (see FACTS:
# an unpinned torch pulls a multi-GB CUDA build), then hubcli in editable mode with dev extras.
VENV ?= .venv
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
BIN = $(VENV)/bin

.PHONY: setup demo test lint
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/hubcli list

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
