"""Interoperability through the Hub: PEFT and the ``adapters`` library on one side, hubcli on the
other, the test Hub server in between (the real huggingface_hub client on both sides).

PEFT's own loading and pushing use huggingface_hub's module-level functions, which talk to the
session's test Hub through HF_ENDPOINT (set in conftest before anything imported it).
"""

from __future__ import annotations

import copy
import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from hubcli.engine import load
from hubcli.testing import model_output, tiny_inputs
from hubcli.testing.tolerance import assert_outputs_close, output_tolerance
from tests.helpers.tiny_models import peft_adapter
from tests.hub_server import TEST_USER, HubServer

GOLDEN = Path(__file__).parent / "golden" / "adapterhub"
ADAPTERS_PYTHON = GOLDEN.parent / ".venv-adapters" / "bin" / "python"


def hubcli_output(registry, base, name: str, ids, mask) -> torch.Tensor:
    with torch.no_grad():
        return model_output(load(copy.deepcopy(base), [name], registry=registry).forward(ids, mask))


def test_peft_loads_what_hubcli_pushed(cli, hub: HubServer, registry, tmp_path: Path) -> None:
    from peft import PeftModel

    base, _ = peft_adapter("bert", "lora", tmp_path / "lora")
    assert cli("add", tmp_path / "lora", "--name", "sst2-lora").exit_code == 0
    pushed = cli("push", "sst2-lora", f"{TEST_USER}/sst2-lora")
    assert pushed.exit_code == 0, pushed.stderr

    ids, mask = tiny_inputs()
    from_hub = PeftModel.from_pretrained(copy.deepcopy(base), f"{TEST_USER}/sst2-lora").eval()
    with torch.no_grad():
        expected = model_output(from_hub(input_ids=ids, attention_mask=mask))
    got = hubcli_output(registry, base, "sst2-lora", ids, mask)
    assert_outputs_close(got, expected, base)


def test_hubcli_pulls_what_peft_pushed(cli, hub: HubServer, registry, tmp_path: Path) -> None:
    base, wrapped = peft_adapter("bert", "lora", tmp_path / "lora", seed=3)
    wrapped.push_to_hub(f"{TEST_USER}/from-peft")
    assert hub.state.repos[f"{TEST_USER}/from-peft"].head().files["adapter_model.safetensors"].lfs

    pulled = cli("pull", f"{TEST_USER}/from-peft", "--json")
    assert pulled.exit_code == 0, pulled.stderr
    adapter = pulled.json()["adapters"][0]["adapter"]
    assert (adapter["name"], adapter["format"], adapter["architecture"]) == ("from-peft", "peft", "lora")

    ids, mask = tiny_inputs()
    with torch.no_grad():
        expected = model_output(wrapped(input_ids=ids, attention_mask=mask))
    got = hubcli_output(registry, base, "from-peft", ids, mask)
    assert_outputs_close(got, expected, base)


def test_adapterhub_repo_gives_the_adapters_library_outputs(cli, hub: HubServer, registry) -> None:
    from huggingface_hub import HfApi
    from safetensors.torch import load_file

    manifest = json.loads((GOLDEN / "manifest.json").read_text())
    case = next(c for c in manifest["cases"] if c["id"] == "bert/lora")
    repo = f"{TEST_USER}/bert-lora-adapterhub"
    api = HfApi(endpoint=hub.endpoint)
    api.create_repo(repo)
    api.upload_folder(repo_id=repo, folder_path=GOLDEN / case["adapters"][0]["dir"])  # pytorch_adapter.bin

    pulled = cli("pull", repo, "--name", "ah-lora", "--json")
    assert pulled.exit_code == 0, pulled.stderr
    shown = cli("show", "ah-lora", "--json").json()
    assert shown["format"] == "adapterhub"
    assert {f["path"] for f in shown["files"]} == {"adapter_config.json", "adapter.safetensors"}

    model_inputs = json.loads((GOLDEN / case["input"]).read_text())
    ids, mask = torch.tensor(model_inputs["input_ids"]), torch.tensor(model_inputs["attention_mask"])
    expected = load_file(GOLDEN / case["expected"])["last_hidden_state"]
    with torch.no_grad():
        stitched = load(str(GOLDEN / case["base_model_dir"]), ["ah-lora"], registry=registry)
        got = model_output(stitched.forward(ids, mask))
    assert_outputs_close(got, expected, stitched)

    pushed = cli("push", "ah-lora", f"{TEST_USER}/ah-lora-again", "--json")
    assert pushed.exit_code == 0, pushed.stderr
    files = hub.state.repos[f"{TEST_USER}/ah-lora-again"].head().files
    assert set(files) == {".gitattributes", "README.md", "adapter_config.json", "adapter.safetensors"}
    card = files["README.md"].content.decode()
    assert (
        "library_name: adapter-transformers" in card and 'load_adapter("hubcli-tester/ah-lora-again"' in card
    )


LOAD_WITH_ADAPTERS = """
import json, sys, torch
from adapters import AutoAdapterModel
from safetensors.torch import load_file
base, repo, inputs, expected = sys.argv[1:]
model = AutoAdapterModel.from_pretrained(base, attn_implementation="eager").eval()
model.load_adapter(repo, source="hf", set_active=True, use_safetensors=True)  # as the model card says
ids = json.load(open(inputs))
with torch.no_grad():
    out = model(input_ids=torch.tensor(ids["input_ids"]), attention_mask=torch.tensor(ids["attention_mask"]))
print(json.dumps((out.last_hidden_state - load_file(expected)["last_hidden_state"]).abs().max().item()))
"""


@pytest.mark.skipif(
    not ADAPTERS_PYTHON.exists(),
    reason="needs the adapters library's own venv (tests/golden/make_adapterhub_goldens.sh)",
)
def test_adapters_library_loads_what_hubcli_pushed(cli, hub: HubServer, tmp_path: Path) -> None:
    """AdapterHub's library (transformers 4, so in its own venv) loads an adapter hubcli pushed,
    from the test Hub, with the usage line of the model card, and gives the golden outputs."""
    import os
    import subprocess

    case = next(
        c for c in json.loads((GOLDEN / "manifest.json").read_text())["cases"] if c["id"] == "bert/lora"
    )
    assert cli("add", GOLDEN / case["adapters"][0]["dir"], "--name", "ah-lora").exit_code == 0
    pushed = cli("push", "ah-lora", f"{TEST_USER}/ah-lora")
    assert pushed.exit_code == 0, pushed.stderr
    assert (
        "use_safetensors=True"
        in hub.state.repos[f"{TEST_USER}/ah-lora"].head().files["README.md"].content.decode()
    )

    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf-home")}
    env.pop("HF_HUB_CACHE", None)
    result = subprocess.run(
        [
            str(ADAPTERS_PYTHON),
            "-c",
            LOAD_WITH_ADAPTERS,
            str(GOLDEN / case["base_model_dir"]),
            f"{TEST_USER}/ah-lora",
            str(GOLDEN / case["input"]),
            str(GOLDEN / case["expected"]),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    from safetensors.torch import load_file

    expected = load_file(GOLDEN / case["expected"])["last_hidden_state"]
    limit = output_tolerance(GOLDEN / case["base_model_dir"], expected)
    assert json.loads(result.stdout.strip().splitlines()[-1]) <= limit


class _Payload:
    """Pickles as a call to ``os.getcwd``: code a weights-only loader must refuse to run."""

    def __reduce__(self):
        import os

        return (os.getcwd, ())


def test_pickle_that_is_not_weights_only_is_refused(cli, hub: HubServer, registry, tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    peft_adapter("bert", "lora", tmp_path / "lora")
    folder = tmp_path / "evil"
    folder.mkdir()
    shutil.copy(tmp_path / "lora" / "adapter_config.json", folder)
    (folder / "adapter_model.bin").write_bytes(pickle.dumps({"weights": _Payload()}))
    repo = f"{TEST_USER}/evil"
    HfApi(endpoint=hub.endpoint).create_repo(repo)
    HfApi(endpoint=hub.endpoint).upload_folder(repo_id=repo, folder_path=folder)

    refused = cli("pull", repo)
    assert refused.exit_code == 1
    assert "refused to load this pickle safely" in refused.stderr
    assert registry.count_adapters() == 0
    assert not any(p.is_file() for p in registry.store.blobs.rglob("*"))
    assert list(registry.store.staging_root.iterdir()) == []
