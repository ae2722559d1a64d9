"""The PEFT goldens (tests/golden/peft, written by ``tests/golden/make_peft_goldens.py`` under the
locked transformers/PEFT): adapters PEFT saved and the outputs PEFT's own model gave.

They are the reference wherever a PEFT that the open ranges allow can no longer run the method
itself: prefix tuning on encoders (``GOLDEN_ONLY``), which PEFT 0.21.2 refuses on transformers
≥ 5.24. Those cases always use the goldens, whatever transformers is installed, so a test
proves the same thing on the lock and on the newest versions.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import torch

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "peft"
GOLDEN_ONLY = {("prefix", "bert"), ("prefix", "roberta")}
"""(method, family) pairs whose PEFT reference is the golden file, never a live PEFT model."""


@cache
def manifest() -> dict[str, Any]:
    return json.loads((GOLDEN / "manifest.json").read_text())


def case(case_id: str) -> dict[str, Any]:
    return next(c for c in manifest()["cases"] if c["id"] == case_id)


def adapter_cases() -> list[dict[str, Any]]:
    return [c for c in manifest()["cases"] if c["method"] is not None]


def base_model(family: str) -> torch.nn.Module:
    """The golden's tiny sequence classifier, as saved (eager attention, as generated)."""
    from transformers import AutoModelForSequenceClassification

    folder = GOLDEN / family / "base"
    return AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()


def inputs(family: str) -> tuple[torch.Tensor, torch.Tensor]:
    data = json.loads((GOLDEN / family / "inputs.json").read_text())
    return torch.tensor(data["input_ids"]), torch.tensor(data["attention_mask"])


def expected(case_id: str) -> dict[str, torch.Tensor]:
    """``logits`` [2, 3] and ``hidden_states`` [layers + 1, 2, 7, 32] PEFT gave for the case."""
    from safetensors.torch import load_file

    return load_file(GOLDEN / case(case_id)["expected"])


def adapter_dir(case_id: str) -> Path:
    return GOLDEN / case(case_id)["adapter_dir"]
