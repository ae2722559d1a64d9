# One set-up for everyone, from a committed lock (docs/development.md says why pip-tools):
# requirements-lock.txt pins every package of the tested set with its sha256, torch's CPU build
# included (see FACTS: an unpinned torch pulls a multi-GB CUDA build). pyproject.toml keeps open
# ranges for people who install hubcli as a library; `make test-latest` tries the newest of them.
VENV ?= .venv
PYTHON ?= python3
LOCK = requirements-lock.txt
BIN = $(VENV)/bin
# torch is the one package the newest-versions venv keeps at this machine's CPU build.
TORCH_SPEC ?= torch==2.13.0
PIP_TOOLS_SPEC ?= pip-tools==7.7.0
PYTEST_WORKERS ?= 2

.PHONY: setup adapters-venv demo test check format lock test-latest system-packages
setup: $(VENV)/.installed

# The example third-party plugins (docs/examples: hubcli-bitfit, an architecture; hubcli-sum, a
# composition block; hubcli-phi, a model family) are installed the way their users would install
# them, so the test suite runs them as outsiders' packages (tests/test_example_plugins*.py).
EXAMPLE_PLUGINS = docs/examples/hubcli-bitfit docs/examples/hubcli-sum docs/examples/hubcli-phi
EDITABLES = -e . $(addprefix -e ,$(EXAMPLE_PLUGINS))

# A changed lock rebuilds the venv from scratch: `pip install -r` adds and upgrades but never
# removes, and "exactly the lock" means nothing more either. A changed pyproject.toml (entry
# points, say) only reinstalls the editable packages.
$(VENV)/.locked: $(LOCK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	touch $@

$(VENV)/.installed: $(VENV)/.locked pyproject.toml $(addsuffix /pyproject.toml,$(EXAMPLE_PLUGINS))
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation $(EDITABLES)
	$(BIN)/python -m pip check
	touch $@

# The `adapters` library (AdapterHub) pins transformers 4, so the tests that run it live use a
# venv of its own, from its own lock (tests/golden/README.md). make_adapterhub_goldens.sh uses it.
ADAPTERS_VENV = tests/golden/.venv-adapters
ADAPTERS_LOCK = tests/golden/requirements-adapters-lock.txt
adapters-venv: $(ADAPTERS_VENV)/.installed
$(ADAPTERS_VENV)/.installed: $(ADAPTERS_LOCK)
	rm -rf $(ADAPTERS_VENV)
	$(PYTHON) -m venv $(ADAPTERS_VENV)
	$(ADAPTERS_VENV)/bin/python -m pip install --quiet --require-hashes --no-deps -r $(ADAPTERS_LOCK)
	$(ADAPTERS_VENV)/bin/python -m pip check
	touch $@

demo: setup
	HF_HUB_OFFLINE=1 $(BIN)/hubcli demo

# Debian packages the tests use, installed when missing: PostgreSQL's binaries (the registry
# tests start a throwaway server) and jq (the executed docs pipe `hubcli … --json` into it).
system-packages:
	@missing=""; \
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	if [ -n "$$missing" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Format, lint, layering contracts (import-linter) and types (mypy), as CI runs them.
check: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: check system-packages adapters-venv
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)


format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Regenerate the locks: hubcli's from pyproject.toml's [dev] extras and requirements-lock.in, the
# adapters venv's from tests/golden/requirements-adapters.in. Pins already
# in the lock are kept (pip-compile's default); `make lock UPGRADE=--upgrade` moves everything to
# the newest versions the ranges allow, `UPGRADE="--upgrade-package peft"` one package.
UPGRADE ?=
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet "$(PIP_TOOLS_SPEC)"
	.venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
		--extra dev --strip-extras --no-emit-index-url --no-emit-find-links $(UPGRADE) \
		--output-file $(LOCK) pyproject.toml $(LOCK:.txt=.in)
	.venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
		--strip-extras --no-emit-index-url --no-emit-find-links $(UPGRADE) \
		--output-file $(ADAPTERS_LOCK) tests/golden/requirements-adapters.in

# The suite against the newest versions pyproject's ranges allow (torch stays at TORCH_SPEC), in
# a venv of its own: drift is found by this command, not by a newcomer. TORCH_SPEC goes in the
# same pip call, or the eager upgrade replaces the CPU build with a CUDA one. Dated results go in
# docs/development.md.
LATEST = .venv-latest
test-latest: system-packages adapters-venv
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager "$(TORCH_SPEC)" \
		-e ".[dev]" $(addprefix -e ,$(EXAMPLE_PLUGINS))
	$(LATEST)/bin/python -m pip list --format freeze > $(LATEST)/versions.txt
	$(LATEST)/bin/python -m pytest -q -n $(PYTEST_WORKERS)
