"""The example third-party plugins of docs/examples, used as an outsider would use them.

``hubcli-bitfit`` is pip-installed by ``make setup`` (CI runs ``make test``): its own test suite
runs here, then BitFit goes through the CLI end to end (train included). ``hubcli-broken-plugin`` is never
installed: a subprocess sees it through ``PYTHONPATH`` and a hand-written ``.dist-info``, and
every other command must keep working. Last, the kit's checkers must pass hubcli's own plugins
and catch plugins that break the contract.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hubcli.plugin_api import PLUGIN_API_VERSION, DetectedAdapter
from hubcli.testing import (
    TINY_FAMILIES,
    check_architecture_plugin,
    check_model_family_plugin,
    model_output,
    save_tiny_model,
    tiny_inputs,
    tiny_model,
)
from hubcli.testing.models import TINY_INPUT_IDS
from hubcli.testing.tolerance import assert_outputs_close, assert_weights_close

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
BITFIT_TARGETS = ["query", "value", "output.dense"]

try:
    import hubcli_bitfit
except ImportError as missing:  # fail, never skip: CI must prove the example installs and works
    raise ImportError(
        "hubcli-bitfit is not installed: run `make setup` (it pip-installs docs/examples/hubcli-bitfit)"
    ) from missing


def bitfit_deltas(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A random delta for the bias of every targeted projection of a tiny BERT."""
    generator = torch.Generator().manual_seed(seed)
    return {
        f"{path}.bias": torch.randn(module.bias.shape, generator=generator) * 0.5
        for path, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and any(path.endswith(t) for t in BITFIT_TARGETS)
    }


def write_bitfit(folder: Path, model: torch.nn.Module, family: str, seed: int = 0) -> dict[str, torch.Tensor]:
    deltas = bitfit_deltas(model, seed)
    hubcli_bitfit.save_bitfit(folder, deltas, BITFIT_TARGETS, model_type=family, task_type="SEQ_CLS")
    return deltas


def with_shifted_biases(model: torch.nn.Module, *deltas: dict[str, torch.Tensor]) -> torch.nn.Module:
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for delta in deltas:
            for name, value in delta.items():
                parameters[name].add_(value)
    return model


@pytest.mark.slow
def test_the_bitfit_package_passes_its_own_tests() -> None:
    """What the plugin's author runs in its folder (its conftest loads ``hubcli.testing``)."""
    folder = EXAMPLES / "hubcli-bitfit"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"], cwd=folder, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout


def test_bitfit_through_the_cli(cli, tmp_path) -> None:
    base = str(save_tiny_model("bert", tmp_path / "base"))
    first = write_bitfit(tmp_path / "bf1", tiny_model("bert"), "bert", seed=1)
    second = write_bitfit(tmp_path / "bf2", tiny_model("bert"), "bert", seed=2)

    rows = {(r["kind"], r["name"]): r for r in cli("plugins", "--check", "--json").json()}
    bitfit = rows[("architecture", "bitfit")]
    assert (bitfit["distribution"], bitfit["status"], bitfit["api_version"]) == (
        "hubcli-bitfit",
        "loaded",
        PLUGIN_API_VERSION,
    )
    table = cli("plugins").stdout
    assert table.startswith(f"plugin API {PLUGIN_API_VERSION}")
    assert re.search(
        rf"architecture\s+bitfit\s+hubcli-bitfit\s+0\.1\.0\s+{PLUGIN_API_VERSION}\s+loaded", table
    )

    for name in ("bf1", "bf2"):
        added = cli("add", tmp_path / name, "--name", name)
        assert added.exit_code == 0, added.stderr
    assert [(r["name"], r["architecture"]) for r in cli("list", "--json").json()] == [
        ("bf1", "bitfit"),
        ("bf2", "bitfit"),
    ]
    shown = cli("show", "bf1", "--json").json()
    assert (shown["format"], shown["method_config"], shown["task"]) == (
        "native",
        {"targets": BITFIT_TARGETS, "modules_to_save": []},
        "SEQ_CLS",
    )
    assert shown["num_parameters"] == sum(delta.numel() for delta in first.values())
    assert {f["path"]: f["role"] for f in shown["files"]} == {
        "adapter_config.json": "config",
        "bitfit.safetensors": "weights",
    }

    ids, mask = tiny_inputs()
    predicted = cli("predict", base, "bf1", "--input-ids", json.dumps(TINY_INPUT_IDS), "--json")
    assert predicted.exit_code == 0, predicted.stderr
    expected = model_output(with_shifted_biases(tiny_model("bert"), first)(input_ids=ids)).detach()
    assert_outputs_close(torch.tensor(predicted.json()["values"]), expected, base)

    merged = cli("stitch", base, "stack(bf1, bf2)", "--out", tmp_path / "merged", "--merge", "--json")
    assert merged.exit_code == 0, merged.stderr
    from transformers import AutoModelForSequenceClassification

    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "merged").eval()
    reference = with_shifted_biases(tiny_model("bert"), first, second)
    for name, parameter in reference.named_parameters():  # a bias plus two shifts: a sum of 3
        assert_weights_close(dict(plain.named_parameters())[name], parameter, width=3, what=name)
    with torch.inference_mode():
        assert_outputs_close(
            plain(input_ids=ids, attention_mask=mask).logits,
            reference(input_ids=ids, attention_mask=mask).logits,
            plain,
        )

    refused = cli("stitch", base, "parallel(bf1, bf2)")
    assert refused.exit_code == 1
    assert (
        "Error: architecture 'bitfit' (adapter 'bf1') does not support the 'parallel' block" in refused.stderr
    )


def test_hubcli_train_arch_bitfit(cli, tmp_path) -> None:
    """``hubcli train`` asks the plugin for a new adapter (``untrained``), trains only its
    parameters (the biases and a new 2-label head) and registers it; it then predicts."""
    from tests.helpers.text_models import sentiment_rows, write_jsonl, write_tiny_bert

    base = write_tiny_bert(tmp_path / "tiny-bert")
    rows = sentiment_rows(240)
    for index, row in enumerate(rows):
        row["split"] = "test" if index < 40 else "train"
    data = write_jsonl(tmp_path / "sentiment.jsonl", rows)
    trained = cli(
        "train",
        "--arch",
        "bitfit",
        "--base",
        base,
        "--dataset",
        data,
        "--name",
        "sent-bitfit",
        "--epochs",
        "10",
        "--lr",
        "0.1",
        "--json",
    )
    assert trained.exit_code == 0, trained.stderr
    report = trained.json()
    assert (report["architecture"], report["trained_parameters"]) == ("bitfit", 460)  # 12 biases + head
    accuracy = report["final"]["branches"][0]["scores"]["accuracy"]
    assert accuracy >= 0.75  # biases alone on a frozen random base (which scores about 0.5)

    shown = cli("show", "sent-bitfit", "--json").json()
    assert (shown["architecture"], shown["labels"], shown["method_config"]["modules_to_save"]) == (
        "bitfit",
        ["negative", "positive"],
        ["classifier"],
    )
    held_out = rows[:40]
    texts = [arg for row in held_out for arg in ("--text", row["text"])]
    predicted = cli("predict", base, "sent-bitfit", *texts, "--json")
    assert predicted.exit_code == 0, predicted.stderr
    hits = sum(label == row["label"] for label, row in zip(predicted.json()["labels"], held_out, strict=True))
    assert hits / len(held_out) == accuracy  # predict runs the registered adapter as eval did

    options = cli(
        "train", "--arch", "bitfit", "--base", base, "--dataset", data, "--name", "x", "--config", "r=4"
    )
    assert options.exit_code == 1 and "bitfit: unknown option 'r' (allowed: targets)" in options.stderr


def broken_plugin_env(tmp_path: Path, strict: bool) -> dict[str, str]:
    """The broken example visible to a subprocess only: its folder on PYTHONPATH, and the
    ``.dist-info`` pip would have written (metadata + entry points) in a second folder."""
    site = tmp_path / "site"
    info = site / "hubcli_broken_plugin-0.0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hubcli-broken-plugin\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(
        "[hubcli.architectures]\nbroken = hubcli_broken_plugin:BrokenArchitecture\n"
    )
    paths = [str(site), str(EXAMPLES / "hubcli-broken-plugin"), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "HUBCLI_HOME": str(tmp_path / "home"),
        "HUBCLI_STRICT_PLUGINS": "1" if strict else "0",
    }


def hubcli(env: dict[str, str], *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubcli", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_a_broken_plugin_is_marked_and_every_other_command_works(tmp_path) -> None:
    env = broken_plugin_env(tmp_path, strict=False)
    write_bitfit(tmp_path / "bf", tiny_model("bert"), "bert")

    listed = hubcli(env, "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "broken")
    assert (row["distribution"], row["status"]) == ("hubcli-broken-plugin", "available")  # metadata only

    checked = hubcli(env, "plugins", "--check", "--json")
    assert checked.returncode == 0, checked.stderr
    rows = {r["name"]: r for r in json.loads(checked.stdout)}
    assert rows["broken"]["status"] == "broken"
    assert rows["broken"]["error"].startswith(
        "import failed: ImportError: hubcli-broken-plugin fails on import"
    )
    assert {r["status"] for name, r in rows.items() if name != "broken"} == {"loaded"}
    assert "hubcli: warning: architecture plugin 'broken' is broken" in checked.stderr

    added = hubcli(env, "add", tmp_path / "bf", "--name", "bf")
    assert added.returncode == 0, added.stderr
    assert added.stderr.count("plugin 'broken' is broken") == 1
    for args in (("list",), ("show", "bf"), ("plugins",)):
        assert hubcli(env, *args).returncode == 0, args

    strict = hubcli(broken_plugin_env(tmp_path, strict=True), "add", tmp_path / "bf", "--name", "bf2")
    assert strict.returncode == 1
    assert "Error: architecture plugin 'broken' is broken: import failed: ImportError" in strict.stderr


class InexactMerge(hubcli_bitfit.BitFitArchitecture):
    """Merges, but unmerges by subtracting (rounds) instead of restoring."""

    def unmerge(self, target, name) -> None:
        for slot in reversed(target.slots_of(name)):
            delta = slot.adapters[name]
            slot.base.bias.data.sub_(delta.delta.data)
            delta._original_bias = None
            slot.merged.remove(name)


class Greedy(hubcli_bitfit.BitFitArchitecture):
    """Claims every adapter_config.json as its own."""

    def detect(self, folder):
        found = super().detect(folder)
        return found or DetectedAdapter(
            architecture="bitfit",
            format="native",
            config={"targets": ["query"]},
            files={"adapter_config.json": "config"},
        )


class FromTheFuture(hubcli_bitfit.BitFitArchitecture):
    api_version = PLUGIN_API_VERSION + 1


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (InexactMerge(), r"merge \(bert\): unmerge did not restore '.*bias' bit for bit"),
        (Greedy(), r"detection: detect\(\) must return None for another method's adapter_config.json"),
        (
            FromTheFuture(),
            rf"declaration: api_version {PLUGIN_API_VERSION + 1} must be an int in 1..{PLUGIN_API_VERSION}",
        ),
    ],
    ids=["inexact-unmerge", "greedy-detect", "future-api"],
)
def test_the_contract_checker_catches_broken_plugins(plugin, message, tmp_path) -> None:
    with pytest.raises(AssertionError, match=message):
        check_architecture_plugin(plugin, write_bitfit, tmp_path)


def peft_writer(method: str):
    """``write_adapter`` for the kit: PEFT itself saves a LoRA / IA³ of the tiny model, with
    random trained values (PEFT starts them as the identity)."""

    def write(folder: Path, model: torch.nn.Module, family: str) -> None:
        import copy

        import peft

        from hubcli.testing import TINY_TASK_TYPES
        from tests.helpers.tiny_models import peft_config

        wrapped = peft.get_peft_model(
            copy.deepcopy(model), peft_config(method, family, TINY_TASK_TYPES[family])
        )
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for name, parameter in wrapped.named_parameters():
                if any(part in name for part in ("lora_", "ia3_l", "modules_to_save.default")):
                    offset = 1.0 if "ia3_l" in name else 0.0
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2 + offset)
        wrapped.save_pretrained(folder)

    return write


@pytest.mark.parametrize("architecture", ["lora", "ia3"])
def test_the_contract_checker_passes_built_in_architectures(architecture, tmp_path) -> None:
    """hubcli's own plugins meet the contract the kit checks, on PEFT's own files."""
    from hubcli.discovery import manager

    plugin = manager.load("architecture", architecture)
    report = check_architecture_plugin(plugin, peft_writer(architecture), tmp_path, families=["bert", "gpt2"])
    assert report.skipped == {"untrained": "the plugin does not offer untrained (CapabilityNotSupported)"}
    assert "merge (gpt2)" in report.passed and "updates round-trip (gpt2)" in report.passed


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_the_family_checker_passes_the_built_in_families(family) -> None:
    from hubcli.discovery import manager

    check_model_family_plugin(manager.load("model", family), tiny_model(family))


def test_the_family_checker_names_a_wrong_path() -> None:
    import dataclasses

    from hubcli.discovery import manager

    bert = manager.load("model", "bert")

    class Misnamed(type(bert)):
        points = dataclasses.replace(bert.points, ffn_out="output.dense_typo")

    with pytest.raises(AssertionError, match=r"model family: layer 0 ffn_out: no module 'output.dense_typo'"):
        check_model_family_plugin(Misnamed(), tiny_model("bert"))
    assert manager.load("model", "bert").points.ffn_out == "output.dense"  # the installed one is back
