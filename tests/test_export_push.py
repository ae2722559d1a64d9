"""``hubcli push NAME REPO --format …`` converts through the architecture plugin: the test Hub
receives the converted layout, and the model card's ``library_name`` names the format pushed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from safetensors.torch import load

from tests.hub_server import TEST_USER, HubServer

GOLDEN = Path(__file__).parent / "golden" / "adapterhub"
REPO = f"{TEST_USER}/converted"


def card_front_matter(content: bytes) -> dict[str, Any]:
    found = re.match(r"^---\n(.*?)\n---\n", content.decode(), re.S)
    assert found, "no YAML front matter"
    return yaml.safe_load(found.group(1))


def test_adapterhub_lora_pushed_as_peft(cli: Any, hub: HubServer) -> None:
    assert cli("add", GOLDEN / "llama/adapters/lora_full", "--name", "hub-lora").exit_code == 0
    pushed = cli("push", "hub-lora", REPO, "--format", "peft", "--json")
    assert pushed.exit_code == 0, pushed.stderr
    assert pushed.json()["format"] == "peft"
    files = hub.state.repos[REPO].head().files
    assert sorted(files) == [
        ".gitattributes",
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    config = json.loads(files["adapter_config.json"].content)
    assert config["peft_type"] == "LORA" and config["lora_alpha"] == 16
    tensors = load(files["adapter_model.safetensors"].content)
    assert "base_model.model.layers.0.mlp.down_proj.lora_A.weight" in tensors
    front = card_front_matter(files["README.md"].content)
    assert front["library_name"] == "peft"

    again = cli("push", "hub-lora", REPO, "--format", "peft", "--json")
    assert again.json()["up_to_date"] is True  # the conversion is byte-for-byte reproducible

    pulled = cli("pull", REPO, "--name", "back", "--json")
    assert pulled.exit_code == 0, pulled.stderr
    adapter = pulled.json()["adapters"][0]["adapter"]
    assert (adapter["architecture"], adapter["format"]) == ("lora", "peft")


def test_peft_lora_pushed_as_adapterhub(cli: Any, hub: HubServer, tmp_path: Path) -> None:
    from tests.test_export_lora import peft_lora

    peft_lora("bert", tmp_path / "peft")
    assert cli("add", tmp_path / "peft", "--name", "peft-lora").exit_code == 0
    pushed = cli("push", "peft-lora", REPO, "--format", "adapterhub")
    assert pushed.exit_code == 0, pushed.stderr
    files = hub.state.repos[REPO].head().files
    assert sorted(files) == [".gitattributes", "README.md", "adapter.safetensors", "adapter_config.json"]
    envelope = json.loads(files["adapter_config.json"].content)
    assert envelope["config"]["architecture"] == "lora" and envelope["name"] == "peft-lora"
    assert "encoder.layer.1.attention.self.key.loras.peft-lora.lora_B" in load(
        files["adapter.safetensors"].content
    )
    front = card_front_matter(files["README.md"].content)
    assert front["library_name"] == "adapter-transformers"
