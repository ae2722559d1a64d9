# One set-up for everyone: a virtual environment with torch installed first (see FACTS:
# an unpinned torch pulls a multi-GB CUDA build), then hubcli in editable mode with dev extras.
VENV ?= .venv
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
BIN = $(VENV)/bin

.PHONY: setup demo test lint postgres
setup: $(VENV)/.installed

# The example third-party plugins (docs/examples: hubcli-bitfit, an architecture; hubcli-sum, a
# composition block; hubcli-phi, a model family) are installed the way their users would install
# them, so the test suite runs them as outsiders' packages (tests/test_example_plugins*.py).
EXAMPLE_PLUGINS = docs/examples/hubcli-bitfit docs/examples/hubcli-sum docs/examples/hubcli-phi
$(VENV)/.installed: pyproject.toml $(addsuffix /pyproject.toml,$(EXAMPLE_PLUGINS))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet $(addprefix -e ,$(EXAMPLE_PLUGINS))
	touch $@

demo: setup
	HF_HUB_OFFLINE=1 $(BIN)/hubcli demo

# The registry tests start a throwaway PostgreSQL server; install its binaries if missing.
postgres:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)

test: setup postgres
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
