"""Shared fixtures: one torch thread, a fresh registry per test, an in-process CLI runner, the
tiny BERT of the eval and train tests."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["HUBCLI_STRICT_PLUGINS"] = "1"

# The test Hub must be up before anything imports huggingface_hub: the client reads HF_ENDPOINT,
# HF_HOME and HF_HUB_DISABLE_XET once, at import (see tests/hub_server.py and docs/hub.md).
import atexit
import shutil
import tempfile

from tests.hub_server import HubServer

HUB_SERVER = HubServer().start()
atexit.register(HUB_SERVER.stop)
_HF_HOME = tempfile.mkdtemp(prefix="hubcli-test-hf-home-")
atexit.register(shutil.rmtree, _HF_HOME, ignore_errors=True)
os.environ.update(
    HF_ENDPOINT=HUB_SERVER.endpoint,
    HF_HOME=_HF_HOME,
    HF_HUB_DISABLE_XET="1",
    HF_HUB_DISABLE_TELEMETRY="1",
    HF_HUB_DISABLE_PROGRESS_BARS="1",
)
for _variable in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE"):
    os.environ.pop(_variable, None)

import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from registry import Registry  # noqa: E402

pytest_plugins = ["hubcli.testing"]


def pytest_configure(config: pytest.Config) -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark by what a test needs, so `-m "not postgres"` or `-m tui` select without a list to keep."""
    for item in items:
        if "postgres_admin_url" in getattr(item, "fixturenames", ()) or "[postgresql" in item.nodeid:
            item.add_marker(pytest.mark.postgres)
        if item.path.name.startswith("test_tui"):
            item.add_marker(pytest.mark.tui)


@pytest.fixture
def hubcli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh registry folder that HUBCLI_HOME points at for this test."""
    home = tmp_path / "hubcli-home"
    monkeypatch.setenv("HUBCLI_HOME", str(home))
    monkeypatch.delenv("HUBCLI_DATABASE_URL", raising=False)
    return home


@pytest.fixture
def registry(hubcli_home: Path) -> Iterator[Registry]:
    reg = Registry(hubcli_home)
    yield reg
    reg.close()


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT classifier with its word-level tokenizer (``write_tiny_bert``), saved once
    per test module: the base model of the eval, train and merge-hint tests."""
    from tests.helpers.text_models import write_tiny_bert

    return write_tiny_bert(tmp_path_factory.mktemp("base") / "tiny-bert")


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    from tests.postgres_server import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_registry(request: pytest.FixtureRequest, hubcli_home: Path) -> Iterator[Registry]:
    """A fresh registry on each database backend (for the storage layer's own tests)."""
    url = None
    if request.param == "postgresql":
        from tests.postgres_server import create_database

        admin = request.getfixturevalue("postgres_admin_url")
        url = create_database(admin, f"t{uuid.uuid4().hex[:16]}")
    reg = Registry(hubcli_home, url)
    yield reg
    reg.close()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        import json

        return json.loads(self.stdout)


@pytest.fixture
def cli(hubcli_home: Path):
    """Run ``hubcli ARGS…`` in process against the test's registry."""
    from typer.testing import CliRunner

    from hubcli.cli import app

    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> CliResult:
        result = runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """The session's test Hub with empty state, a per-test HF cache and a valid HF_TOKEN."""
    HUB_SERVER.state.reset()
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_TOKEN", HUB_SERVER.token)
    yield HUB_SERVER
    HUB_SERVER.state.reset()
