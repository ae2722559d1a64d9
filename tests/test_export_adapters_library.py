"""The real ``adapters`` library loads what hubcli exported: PEFT adapters converted to AdapterHub
give PEFT's output, AdapterHub adapters exported as stored give the golden output.

``adapters`` 1.3.0 pins transformers 4, so it runs in its own venv (tests/golden/.venv-adapters,
made by tests/golden/make_adapterhub_goldens.sh), one subprocess for every case. PEFT adapters
are trained-looking (randomised) LoRA and IA³ on the golden base models: BERT, GPT-2 (fused
``c_attn``) and Llama (``adapters`` swaps its feed-forward places).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import peft
import pytest
import torch
from safetensors.torch import load_file, save_file

from hubcli.importer import import_adapter
from hubcli.plugin_api import AdapterFolder
from hubcli.services.exporting import export_adapter
from hubcli.testing.tolerance import output_tolerance
from registry import Registry
from tests.test_export_ia3 import OUTPUT_TARGETS
from tests.test_export_lora import GOLDEN, TARGETS, case_named, golden_base, golden_inputs

ADAPTERS_PYTHON = GOLDEN.parent / ".venv-adapters" / "bin" / "python"
RUN_WITH_ADAPTERS = """
import json, sys
import torch, adapters
from safetensors.torch import load_file
from transformers import AutoModel

differences = []
for job in json.loads(sys.argv[1]):
    model = AutoModel.from_pretrained(job["base"], attn_implementation="eager")
    adapters.init(model)
    model.load_adapter(job["adapter"], use_safetensors=True, set_active=True)
    model.eval()
    data = json.load(open(job["inputs"]))
    with torch.no_grad():
        out = model(input_ids=torch.tensor(data["input_ids"]), attention_mask=torch.tensor(data["attention_mask"]))
    want = load_file(job["expected"])["last_hidden_state"]
    differences.append((out.last_hidden_state - want).abs().max().item())
print(json.dumps(differences))
"""


def peft_config(method: str, family: str) -> Any:
    if method == "lora":
        return peft.LoraConfig(
            r=4, lora_alpha=6, target_modules=TARGETS[family], fan_in_fan_out=family == "gpt2"
        )
    return peft.IA3Config(
        target_modules=OUTPUT_TARGETS[family], feedforward_modules=[], fan_in_fan_out=family == "gpt2"
    )


def converted_job(registry: Registry, folder: Path, method: str, family: str) -> dict[str, str]:
    """A randomised PEFT adapter on the golden base, its output, and its AdapterHub export."""
    case = case_named(f"{family}/base")
    wrapped = peft.get_peft_model(golden_base(case), peft_config(method, family))
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_" in name or "ia3_l" in name:
                param.copy_(
                    torch.randn(param.shape, generator=generator) * 0.2 + (1.0 if "ia3_l" in name else 0.0)
                )
        want = wrapped.eval()(**golden_inputs(case)).last_hidden_state
    base_output = load_file(GOLDEN / case["expected"])["last_hidden_state"]
    assert (want - base_output).abs().max().item() > 1e-2  # else the comparison proves nothing
    wrapped.save_pretrained(folder / "peft")
    save_file({"last_hidden_state": want.contiguous()}, folder / "peft-output.safetensors")
    name = f"{family}-{method}"
    import_adapter(registry, AdapterFolder(folder / "peft"), name=name)
    export_adapter(registry, name, folder / "hub", "adapterhub")
    return {
        "base": str(GOLDEN / case["base_model_dir"]),
        "adapter": str(folder / "hub"),
        "inputs": str(GOLDEN / case["input"]),
        "expected": str(folder / "peft-output.safetensors"),
    }


STORED_FORMAT_CASES = (
    "bert/seq_bn",
    "gpt2/lora_full",
    "llama/ia3",
    "bert/prefix_tuning",
    "bert/prompt_tuning",
)
"""AdapterHub goldens saved as pickles, stored by hubcli as safetensors, exported as stored."""


def stored_format_job(registry: Registry, folder: Path, case_id: str) -> dict[str, str]:
    case = case_named(case_id)
    name = import_adapter(
        registry,
        AdapterFolder(GOLDEN / case["adapters"][0]["dir"]),
        name="golden-" + case_id.replace("/", "-"),
    ).adapter.name
    export_adapter(registry, name, folder)
    return {
        "base": str(GOLDEN / case["base_model_dir"]),
        "adapter": str(folder),
        "inputs": str(GOLDEN / case["input"]),
        "expected": str(GOLDEN / case["expected"]),
    }


@pytest.mark.skipif(
    not ADAPTERS_PYTHON.exists(),
    reason="needs the adapters library's own venv (tests/golden/make_adapterhub_goldens.sh)",
)
def test_the_adapters_library_runs_what_hubcli_exported_in_adapterhub_format(
    registry: Registry, tmp_path: Path
) -> None:
    cases: list[Any] = [
        (method, family) for method in ("lora", "ia3") for family in ("bert", "gpt2", "llama")
    ]
    jobs = [converted_job(registry, tmp_path / f"{m}-{f}", m, f) for m, f in cases]
    jobs += [
        stored_format_job(registry, tmp_path / case_id.replace("/", "-"), case_id)
        for case_id in STORED_FORMAT_CASES
    ]
    cases += STORED_FORMAT_CASES
    result = subprocess.run(
        [str(ADAPTERS_PYTHON), "-c", RUN_WITH_ADAPTERS, json.dumps(jobs)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    differences = dict(zip(cases, json.loads(result.stdout.strip().splitlines()[-1]), strict=True))
    limits = [output_tolerance(job["base"], load_file(job["expected"])["last_hidden_state"]) for job in jobs]
    assert all(d <= limit for d, limit in zip(differences.values(), limits, strict=True)), (
        differences,
        limits,
    )
