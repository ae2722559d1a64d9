"""pull and push end to end: the real huggingface_hub client against the test Hub server.

Adapters are real PEFT LoRA adapters (peft's save_pretrained on a tiny BERT built from a config),
made once per session; every test gets an empty Hub, a fresh HF cache and a fresh registry.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
import yaml

from registry import Evaluation, Registry
from tests.hub_server import TEST_USER, Fault, HubServer

REPO = f"{TEST_USER}/tiny-lora"
BASE = "hubcli-test/tiny-bert"


def save_peft_lora(folder: Path, seed: int) -> Path:
    from peft import LoraConfig, get_peft_model

    from hubcli.testing import tiny_model

    model = get_peft_model(
        tiny_model("bert", seed, head=None, random_biases=False),
        LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], init_lora_weights=False),
    )
    model.peft_config["default"].base_model_name_or_path = BASE
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def loras(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two different PEFT LoRA adapter folders."""
    root = tmp_path_factory.mktemp("peft-loras")
    return [save_peft_lora(root / f"lora{seed}", seed) for seed in (0, 1)]


def add(cli, folder: Path, name: str) -> None:
    result = cli("add", folder, "--name", name)
    assert result.exit_code == 0, result.stderr


def registry_state(registry: Registry) -> tuple[int, int]:
    """Adapters registered and blob files stored."""
    blobs = registry.store.blobs
    return registry.count_adapters(), sum(1 for p in blobs.rglob("*") if p.is_file())


def adapter_files(cli, name: str) -> dict[str, str]:
    """path -> sha256 of an adapter's files, the model card left out (push writes its own)."""
    shown = cli("show", name, "--json").json()
    return {f["path"]: f["sha256"] for f in shown["files"] if f["role"] != "card"}


def test_push_then_pull_gives_identical_files_and_metadata(cli, hub: HubServer, registry, loras) -> None:
    add(cli, loras[0], "orig")
    original = registry.get_adapter("orig")
    registry.add_evaluations(
        [
            Evaluation(
                adapter_id=original.id,
                target="orig",
                dataset="sst2",
                split="validation",
                task="text-classification",
                metric="accuracy",
                value=0.875,
                n=64,
            )
        ]
    )

    pushed = cli("push", "orig", REPO, "--json")
    assert pushed.exit_code == 0, pushed.stderr
    report = pushed.json()
    assert report["up_to_date"] is False and report["format"] == "peft"
    head = hub.state.repos[REPO].head()
    assert report["commit"] == head.sha
    assert set(head.files) == {
        ".gitattributes",
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
    }
    assert head.files["adapter_model.safetensors"].lfs
    assert head.files["adapter_config.json"].content == (loras[0] / "adapter_config.json").read_bytes()

    card = head.files["README.md"].content.decode()
    front = yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", card, re.S)[1])
    assert front["library_name"] == "peft" and front["base_model"] == BASE
    assert {"adapters", "hubcli", f"base_model:adapter:{BASE}"} <= set(front["tags"])
    metric = front["model-index"][0]["results"][0]
    assert metric["dataset"]["name"] == "sst2" and metric["metrics"][0]["value"] == 0.875
    assert "PeftModel.from_pretrained" in card and f"hubcli pull {REPO}" in card

    pulled = cli("pull", REPO, "--name", "copy", "--json")
    assert pulled.exit_code == 0, pulled.stderr
    assert pulled.json()["adapters"][0]["created"] is True
    assert adapter_files(cli, "copy") == adapter_files(cli, "orig")
    copy, orig = cli("show", "copy", "--json").json(), cli("show", "orig", "--json").json()
    for key in (
        "architecture",
        "variant",
        "format",
        "method_config",
        "base_model",
        "model_type",
        "num_parameters",
        "hidden_size",
    ):
        assert copy[key] == orig[key], key
    assert (copy["source_kind"], copy["source"], copy["source_revision"], copy["source_commit"]) == (
        "hub",
        REPO,
        "main",
        head.sha,
    )
    assert [(r["repo_id"], r["commit_sha"], r["format"]) for r in orig["remotes"]] == [
        (REPO, head.sha, "peft")
    ]
    assert orig["remotes"][0]["endpoint"] == hub.endpoint


def test_push_twice_makes_one_commit(cli, hub: HubServer, loras) -> None:
    add(cli, loras[0], "orig")
    assert cli("push", "orig", REPO).exit_code == 0
    commits = len(hub.state.repos[REPO].commits)
    again = cli("push", "orig", REPO)
    assert again.exit_code == 0, again.stderr
    assert "up to date" in again.stdout
    assert len(hub.state.repos[REPO].commits) == commits
    assert hub.state.count("POST", "/commit/") == 1
    assert len(cli("show", "orig", "--json").json()["remotes"]) == 1


def test_pull_twice_transfers_nothing(cli, hub: HubServer, registry, loras) -> None:
    from hubcli.hub.pull import pull

    add(cli, loras[0], "orig")
    cli("push", "orig", REPO)
    events = []
    first = pull(registry, REPO, name="copy", on_progress=events.append)
    assert first.bytes_downloaded > 0 and not first.up_to_date
    assert any(e.stage == "downloading" and e.done > 0 for e in events)

    downloads = hub.state.count("GET", "/resolve/")
    second = cli("pull", REPO, "--name", "copy", "--json")
    assert second.exit_code == 0, second.stderr
    assert second.json()["up_to_date"] is True and second.json()["bytes_downloaded"] == 0
    assert hub.state.count("GET", "/resolve/") == downloads
    assert "up to date" in cli("pull", REPO, "--name", "copy").stdout


def test_revision_pinning_by_sha_branch_and_pr(cli, hub: HubServer, loras) -> None:
    add(cli, loras[0], "first")
    add(cli, loras[1], "second")
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.endpoint)
    first_sha = cli("push", "first", REPO, "--json").json()["commit"]
    api.create_tag(REPO, tag="v1")
    second_sha = cli("push", "second", REPO, "--json").json()["commit"]
    assert first_sha != second_sha

    tagged = cli("pull", f"{REPO}@v1", "--name", "tagged", "--json")
    assert tagged.exit_code == 0, tagged.stderr
    assert tagged.json()["commit"] == first_sha and tagged.json()["revision"] == "v1"
    assert adapter_files(cli, "tagged") == adapter_files(cli, "first")

    old = cli("pull", f"{REPO}@{first_sha}", "--name", "old", "--json")
    assert old.exit_code == 0, old.stderr
    assert old.json()["commit"] == first_sha
    assert adapter_files(cli, "old") == adapter_files(cli, "first")
    shown = cli("show", "old", "--json").json()
    assert (shown["source_revision"], shown["source_commit"]) == (first_sha, first_sha)

    branch = cli("push", "first", REPO, "--revision", "dev", "--json").json()
    assert branch["revision"] == "dev" and hub.state.repos[REPO].branches["dev"] == branch["commit"]
    assert hub.state.repos[REPO].branches["main"] == second_sha
    dev = cli("pull", REPO, "--revision", "dev", "--name", "from-dev", "--json")
    assert dev.json()["commit"] == branch["commit"]
    assert adapter_files(cli, "from-dev") == adapter_files(cli, "first")

    pr = cli("push", "first", REPO, "--create-pr", "--json").json()
    assert pr["revision"] == "refs/pr/1" and pr["pr_url"].endswith("/discussions/1")
    assert hub.state.repos[REPO].branches["main"] == second_sha
    refs = api.list_repo_refs(REPO, include_pull_requests=True)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": second_sha, "dev": branch["commit"]}
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1", first_sha)]
    assert [(r.ref, r.target_commit) for r in refs.pull_requests] == [("refs/pr/1", pr["commit"])]


def test_repo_with_adapters_in_subfolders(cli, hub: HubServer, loras, tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    folder = tmp_path / "multi"
    shutil.copytree(loras[0], folder / "sst2")
    shutil.copytree(loras[1], folder / "mnli")
    HfApi(endpoint=hub.endpoint).create_repo(f"{TEST_USER}/multi")
    HfApi(endpoint=hub.endpoint).upload_folder(repo_id=f"{TEST_USER}/multi", folder_path=folder)

    ambiguous = cli("pull", f"{TEST_USER}/multi")
    assert ambiguous.exit_code == 1
    assert "holds 2 adapters (mnli, sst2)" in ambiguous.stderr and "--subfolder" in ambiguous.stderr
    assert cli("list", "--json").json() == []
    assert hub.state.count("GET", "/resolve/") == 0  # explained before downloading anything

    one = cli("pull", f"{TEST_USER}/multi", "--subfolder", "sst2", "--json")
    assert one.exit_code == 0, one.stderr
    assert [a["adapter"]["name"] for a in one.json()["adapters"]] == ["sst2"]
    assert one.json()["adapters"][0]["adapter"]["source"] == f"{TEST_USER}/multi/sst2"
    assert hub.state.count("GET", "/resolve/") == hub.state.count("GET", "/sst2/") == 3  # only sst2/*

    both = cli("pull", f"{TEST_USER}/multi", "--all", "--json").json()
    assert [(a["adapter"]["name"], a["created"]) for a in both["adapters"]] == [
        ("mnli", True),
        ("sst2", False),
    ]
    assert adapter_files(cli, "mnli") == {
        p: hashlib.sha256((loras[1] / p).read_bytes()).hexdigest()
        for p in ("adapter_config.json", "adapter_model.safetensors")
    }

    missing = cli("pull", f"{TEST_USER}/multi", "--subfolder", "qnli")
    assert missing.exit_code == 1 and "no adapter in sub-folder 'qnli'" in missing.stderr


def test_pull_all_is_all_or_nothing(cli, hub: HubServer, registry, loras, tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    folder = tmp_path / "multi"
    shutil.copytree(loras[0], folder / "good")
    shutil.copytree(loras[1], folder / "zbroken")
    (folder / "zbroken" / "adapter_model.safetensors").write_bytes(b"not safetensors at all")
    HfApi(endpoint=hub.endpoint).create_repo(f"{TEST_USER}/multi")
    HfApi(endpoint=hub.endpoint).upload_folder(repo_id=f"{TEST_USER}/multi", folder_path=folder)

    failed = cli("pull", f"{TEST_USER}/multi", "--all")
    assert failed.exit_code == 1 and "zbroken/adapter_model.safetensors" in failed.stderr
    assert registry_state(registry) == (0, 0)


def test_private_repo_needs_a_token(cli, hub: HubServer, registry, loras, monkeypatch) -> None:
    add(cli, loras[0], "orig")
    assert cli("push", "orig", f"{TEST_USER}/secret", "--private").exit_code == 0
    assert hub.state.repos[f"{TEST_USER}/secret"].private
    before = registry_state(registry)

    monkeypatch.delenv("HF_TOKEN")
    refused = cli("pull", f"{TEST_USER}/secret", "--name", "copy")
    assert refused.exit_code == 1
    assert "private and you are not logged in" in refused.stderr and "HF_TOKEN" in refused.stderr
    assert registry_state(registry) == before

    monkeypatch.setenv("HF_TOKEN", hub.token)
    assert cli("pull", f"{TEST_USER}/secret", "--name", "copy").exit_code == 0


def test_missing_repo_or_revision_leaves_the_registry_unchanged(cli, hub: HubServer, registry, loras) -> None:
    add(cli, loras[0], "orig")
    cli("push", "orig", REPO)
    before = registry_state(registry)

    no_repo = cli("pull", f"{TEST_USER}/nothing-here")
    assert no_repo.exit_code == 1
    assert (
        no_repo.stderr.strip() == f"Error: {TEST_USER}/nothing-here: repository not found on {hub.endpoint}"
    )
    no_rev = cli("pull", f"{REPO}@v9")
    assert no_rev.exit_code == 1
    assert f"revision 'v9' not found on {hub.endpoint}" in no_rev.stderr
    assert "is not a Hub repository id" in cli("pull", "not a repo id").stderr
    assert "name different revisions" in cli("pull", f"{REPO}@v1", "--revision", "v2").stderr
    assert registry_state(registry) == before


def test_download_killed_halfway_then_retried(cli, hub: HubServer, registry, loras) -> None:
    add(cli, loras[0], "orig")
    cli("push", "orig", REPO)
    before = registry_state(registry)
    # the connection drops after 100 bytes; the client's resume attempt finds the Hub down
    hub.state.faults += [
        Fault("adapter_model.safetensors", drop_after=100),
        Fault("adapter_model.safetensors", times=100, status=503),
    ]
    failed = cli("pull", REPO, "--name", "copy")
    assert failed.exit_code == 1
    assert failed.stderr.startswith("Error: ") and "HTTP 503" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
    assert registry_state(registry) == before
    assert list(registry.store.staging_root.iterdir()) == []

    hub.state.faults.clear()
    retried = cli("pull", REPO, "--name", "copy")
    assert retried.exit_code == 0, retried.stderr
    assert adapter_files(cli, "copy") == adapter_files(cli, "orig")


@pytest.mark.parametrize("status", [404, 500])
def test_file_download_failing_with_an_http_error(cli, hub: HubServer, registry, loras, status: int) -> None:
    add(cli, loras[0], "orig")
    cli("push", "orig", REPO)
    before = registry_state(registry)
    hub.state.faults.append(Fault("adapter_model.safetensors", status=status))
    failed = cli("pull", REPO, "--name", "copy")
    assert failed.exit_code == 1
    assert failed.stderr.strip() == (
        f"Error: {REPO}: the Hub at {hub.endpoint} answered HTTP {status}: injected failure"
    )
    assert registry_state(registry) == before
    assert list(registry.store.staging_root.iterdir()) == []


def test_push_whose_answer_is_lost_records_no_remote(cli, hub: HubServer, loras) -> None:
    """The Hub takes the commit but the connection drops before its answer arrives: no remote
    is recorded; the next push sees the content on the Hub, makes no commit, records it."""
    add(cli, loras[0], "orig")
    hub.state.faults.append(Fault("/commit/main", method="POST", drop_after=0))
    failed = cli("push", "orig", REPO)
    assert failed.exit_code == 1 and "connection to" in failed.stderr
    assert cli("show", "orig", "--json").json()["remotes"] == []

    again = cli("push", "orig", REPO, "--json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["up_to_date"] is True
    assert again.json()["commit"] == hub.state.repos[REPO].head().sha
    assert hub.state.count("POST", "/commit/") == 1
    assert [r["commit_sha"] for r in cli("show", "orig", "--json").json()["remotes"]] == [
        again.json()["commit"]
    ]


def test_dropped_connection_is_retried(cli, hub: HubServer, loras) -> None:
    """huggingface_hub retries a download whose connection drops (resuming with a Range request
    once a 10 MB chunk has arrived; these files are smaller, so it starts over)."""
    add(cli, loras[0], "orig")
    cli("push", "orig", REPO)
    hub.state.faults.append(Fault("adapter_model.safetensors", drop_after=100))
    pulled = cli("pull", REPO, "--name", "copy")
    assert pulled.exit_code == 0, pulled.stderr
    assert hub.state.count("GET", "/adapter_model.safetensors") == 2
    assert adapter_files(cli, "copy") == adapter_files(cli, "orig")


def test_offline_mode_serves_the_cache(cli, hub: HubServer, loras, monkeypatch) -> None:
    add(cli, loras[0], "orig")
    cli("push", "orig", REPO)
    assert cli("pull", REPO, "--name", "copy").exit_code == 0
    assert cli("rm", "copy", "--yes").exit_code == 0

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    requests = len(hub.state.requests)
    offline = cli("pull", REPO, "--name", "copy", "--json")
    assert offline.exit_code == 0, offline.stderr
    assert offline.json()["offline"] is True and offline.json()["adapters"][0]["created"] is True
    assert len(hub.state.requests) == requests

    missing = cli("pull", f"{TEST_USER}/never-pulled")
    assert missing.exit_code == 1
    assert "not in the local Hugging Face cache" in missing.stderr
    assert len(hub.state.requests) == requests


def test_push_in_a_format_the_plugin_cannot_convert_to_is_refused(cli, hub: HubServer) -> None:
    """PEFT has no bottleneck adapters (conversions that work: tests/test_export_push.py)."""
    golden = Path(__file__).parent / "golden" / "adapterhub" / "bert" / "adapters" / "seq_bn_safetensors"
    add(cli, golden, "orig")
    refused = cli("push", "orig", REPO, "--format", "peft")
    assert refused.exit_code == 1
    assert "stored in adapterhub format" in refused.stderr and "peft" in refused.stderr
    assert REPO not in hub.state.repos


def test_push_unknown_adapter_or_without_token(cli, hub: HubServer, loras, monkeypatch) -> None:
    assert cli("push", "ghost", REPO).exit_code == 1
    add(cli, loras[0], "orig")
    monkeypatch.delenv("HF_TOKEN")
    refused = cli("push", "orig", REPO)
    assert refused.exit_code == 1 and "HF_TOKEN" in refused.stderr
    assert cli("show", "orig", "--json").json()["remotes"] == []


def test_unreachable_hub_is_one_clear_line(cli, hub: HubServer, registry) -> None:
    before = registry_state(registry)
    failed = cli("pull", REPO, "--endpoint", "http://127.0.0.1:9")  # nothing listens there
    assert failed.exit_code == 1
    assert failed.stderr.strip() == (
        f"Error: {REPO} is not in the local Hugging Face cache and the Hub cannot be used "
        "(offline mode or no connection): pull it once while online"
    )
    assert registry_state(registry) == before


def test_a_local_base_model_is_no_hub_metadata(cli, hub: HubServer, registry, loras) -> None:
    """An adapter made on a local folder (``./tiny-bert``, an absolute path) names no
    ``base_model`` in its card: the Hub takes only model ids there, and the link would be broken."""
    result = cli("add", loras[0], "--name", "local", "--base", "./tiny-bert")
    assert result.exit_code == 0, result.stderr
    pushed = cli("push", "local", REPO)
    assert pushed.exit_code == 0, pushed.stderr
    card = hub.state.repos[REPO].head().files["README.md"].content.decode()
    front = yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", card, re.S)[1])
    assert "base_model" not in front
    assert not any(tag.startswith("base_model:") for tag in front["tags"])
    assert "- base model: `tiny-bert` (a local folder when it was registered)" in card
    assert "huggingface.co/./tiny-bert" not in card


def test_a_local_base_models_path_is_not_published(cli, hub: HubServer, registry, loras, tmp_path) -> None:
    """Only a local base folder's own name reaches the card, never the path (a user name in it)."""
    private = tmp_path / "home" / "someone-private" / "models" / "my-base"
    result = cli("add", loras[0], "--name", "local", "--base", str(private))
    assert result.exit_code == 0, result.stderr
    assert cli("push", "local", REPO).exit_code == 0
    card = hub.state.repos[REPO].head().files["README.md"].content.decode()
    assert "- base model: `my-base` (a local folder when it was registered)" in card
    assert "someone-private" not in card


def test_a_new_branch_of_main_holding_the_files_is_up_to_date(cli, hub: HubServer, registry, loras) -> None:
    """``--revision NEW`` starts NEW at main; when main holds the adapter already, nothing is
    committed and the push says so (instead of 'pushed' over an empty commit)."""
    add(cli, loras[0], "orig")
    assert cli("push", "orig", REPO).exit_code == 0
    repo = hub.state.repos[REPO]
    commits, main = len(repo.commits), repo.branches["main"]
    branched = cli("push", "orig", REPO, "--revision", "experiments", "--json")
    assert branched.exit_code == 0, branched.stderr
    report = branched.json()
    assert report["up_to_date"] is True and report["commit"] == main
    assert repo.branches["experiments"] == main and len(repo.commits) == commits
