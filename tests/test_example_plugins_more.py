"""The composition and model-family examples of docs/examples, used as an outsider would use them.

``make setup`` pip-installs ``hubcli-sum`` (a composition block) and ``hubcli-phi`` (a model
family) beside ``hubcli-bitfit`` (tests/test_example_plugins.py); their own test suites run here,
in their folders, as each author runs them, so CI proves every walk-through in docs/plugins.md.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
PACKAGES = {"hubcli-sum": "hubcli_sum", "hubcli-phi": "hubcli_phi"}


@pytest.mark.slow
@pytest.mark.parametrize(("folder", "module"), PACKAGES.items())
def test_the_example_package_is_installed_and_passes_its_own_tests(folder: str, module: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as missing:  # fail, never skip: CI must prove the example installs and works
        raise AssertionError(
            f"{folder} is not installed: run `make setup` (it pip-installs docs/examples/{folder})"
        ) from missing
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],
        cwd=EXAMPLES / folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout
