"""hubcli search against the test Hub: repos with model cards pushed by the real client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub_server import TEST_USER, HubServer

CARDS = {
    # repo name: (library_name, base_model, downloads)
    "sst2-lora": ("peft", "bert-base-uncased", 50),
    "mnli-lora": ("peft", "roberta-base", 500),
    "sst2-seq-bn": ("adapter-transformers", "bert-base-uncased", 120),
    "sst2-model": ("transformers", None, 9000),
}


@pytest.fixture
def hub_with_cards(hub: HubServer) -> HubServer:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.endpoint)
    for name, (library, base, downloads) in CARDS.items():
        repo = f"{TEST_USER}/{name}"
        api.create_repo(repo)
        front = f"library_name: {library}\n" + (f"base_model: {base}\n" if base else "") + "tags:\n- demo\n"
        api.upload_file(
            path_or_fileobj=f"---\n{front}---\n# {name}\n".encode(), path_in_repo="README.md", repo_id=repo
        )
        hub.state.repos[repo].downloads = downloads
    return hub


def ids(result) -> list[str]:
    return [row["id"].split("/")[1] for row in result.json()]


def test_search_lists_adapters_of_both_libraries_most_downloaded_first(cli, hub_with_cards) -> None:
    found = cli("search", "--json")
    assert found.exit_code == 0, found.stderr
    assert ids(found) == ["mnli-lora", "sst2-seq-bn", "sst2-lora"]  # not the plain transformers model
    row = found.json()[0]
    assert (row["library"], row["base_model"], row["downloads"], row["likes"]) == (
        "peft",
        "roberta-base",
        500,
        0,
    )
    assert "demo" in row["tags"] and row["last_modified"]

    table = cli("search", "sst2")
    assert "sst2-lora" in table.stdout and "sst2-seq-bn" in table.stdout and "mnli" not in table.stdout


def test_search_filters(cli, hub_with_cards) -> None:
    assert ids(cli("search", "--library", "peft", "--json")) == ["mnli-lora", "sst2-lora"]
    assert ids(cli("search", "--library", "adapters", "--json")) == ["sst2-seq-bn"]
    assert ids(cli("search", "--base", "bert-base-uncased", "--json")) == ["sst2-seq-bn", "sst2-lora"]
    assert ids(cli("search", "sst2", "--library", "peft", "--json")) == ["sst2-lora"]
    assert ids(cli("search", "--limit", "1", "--json")) == ["mnli-lora"]
    assert cli("search", "nothing-like-this", "--json").json() == []
    assert "No adapters found" in cli("search", "nothing-like-this").stdout

    unknown = cli("search", "--library", "keras")
    assert unknown.exit_code == 1 and "unknown library 'keras'" in unknown.stderr


def test_search_follows_pagination(cli, hub_with_cards) -> None:
    hub_with_cards.state.page_size = 1
    assert ids(cli("search", "--library", "peft", "--json")) == ["mnli-lora", "sst2-lora"]
    assert hub_with_cards.state.count("GET", "/api/models") == 2


def test_private_adapters_are_found_only_with_a_token(cli, hub_with_cards, monkeypatch) -> None:
    hub_with_cards.state.repos[f"{TEST_USER}/sst2-lora"].private = True
    assert "sst2-lora" in ids(cli("search", "--json"))
    monkeypatch.delenv("HF_TOKEN")
    assert "sst2-lora" not in ids(cli("search", "--json"))


def test_endpoint_option_wins_over_the_environment(cli, hub_with_cards, monkeypatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    found = cli("search", "--library", "adapters", "--endpoint", hub_with_cards.endpoint, "--json")
    assert found.exit_code == 0, found.stderr
    assert ids(found) == ["sst2-seq-bn"]


def test_the_installed_command_talks_to_hf_endpoint(hub_with_cards, hubcli_home) -> None:
    """A fresh process, as users run it: huggingface_hub imported there for the first time."""
    hubcli = Path(sys.executable).with_name("hubcli")
    env = {**os.environ, "HF_ENDPOINT": hub_with_cards.endpoint}
    result = subprocess.run(
        [str(hubcli), "search", "--library", "adapters", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert [row["id"] for row in json.loads(result.stdout)] == [f"{TEST_USER}/sst2-seq-bn"]
