"""Hugging Face PEFT's adapter folders, for any method PEFT saves (LoRA, IA³, prefix and
prompt tuning, VeRA …).

A PEFT adapter folder holds ``adapter_config.json`` (its ``peft_type`` names the method),
``adapter_model.safetensors`` (or the legacy pickle ``adapter_model.bin``) and usually a
``README.md`` card. Weight names are ``base_model.model.<module path>.<parameter>`` for the
methods that wrap modules, and plain ``prompt_embeddings`` for prompt learning. A plugin reads
the method's own keys with a ``StrictFile`` model and hands its canonical config to
``detected``; this module reads the envelope around them. Import side: no torch.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from hubcli.plugin_api import AdapterFolder, DetectedAdapter
from hubcli.plugin_api.formats.reading import CONFIG_FILE, WHERE_KEY, adapter_files, parse

FORMAT = "peft"
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")
"""In order of preference: what PEFT writes today, then its legacy pickle."""
MODULE_PREFIX = "base_model.model."
_MODEL_TYPE_FROM_LIBRARY = re.compile(r"transformers\.models\.([A-Za-z0-9_]+)\.")


def peft_type(raw: dict[str, Any]) -> str | None:
    """The method PEFT saved (``LORA``, ``IA3`` …), or None when this is not a PEFT config."""
    value = raw.get("peft_type")
    return value.upper() if isinstance(value, str) else None


class PeftEnvelope(BaseModel):
    """The keys every PEFT config shares; the method's own keys are read by its plugin."""

    model_config = ConfigDict(extra="ignore", strict=True)

    task_type: str | None = None
    base_model_name_or_path: str | None = None
    model_type: str | None = None
    auto_mapping: dict[str, Any] | None = None

    def guessed_model_type(self) -> str | None:
        """PEFT writes no model_type; ``auto_mapping.parent_library`` names the module
        (``transformers.models.llama.modeling_llama``) when the base was not a task model."""
        if self.model_type:
            return self.model_type
        library = (self.auto_mapping or {}).get("parent_library")
        found = _MODEL_TYPE_FROM_LIBRARY.match(library) if isinstance(library, str) else None
        return found.group(1) if found else None


class PeftTargets(BaseModel):
    """Which modules PEFT wrapped, as its config says it (matched against module paths); a
    canonical config keeps it under ``targets`` (``kind`` tells it from ``AdapterHubTargets``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["peft"] = "peft"
    target_modules: list[str] | str | None = None
    """Module names or suffixes, one regex (full match), or ``"all-linear"``."""
    exclude_modules: list[str] | str | None = None
    layers_to_transform: list[int] | None = None
    layers_pattern: list[str] | str | None = None


def layers_list(value: int | list[int] | None) -> list[int] | None:
    """PEFT accepts one layer index or a list; the canonical config keeps a list."""
    return [value] if isinstance(value, int) else value


def pattern_value(patterns: dict[str, Any], module: str, default: Any) -> Any:
    """PEFT's ``rank_pattern``/``alpha_pattern`` lookup: the first key that matches the end of
    the module path (``(.*\\.)?key$``), in the file's order; else ``default``."""
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def module_of(tensor: str, suffix: str) -> str | None:
    """The wrapped module's path for ``base_model.model.<path>.<suffix>``, else None."""
    if tensor.startswith(MODULE_PREFIX) and tensor.endswith("." + suffix):
        return tensor[len(MODULE_PREFIX) : -len(suffix) - 1]
    return None


def saved_module(tensor: str, modules_to_save: list[str]) -> bool:
    """Whether ``tensor`` is a full copy of a module listed in ``modules_to_save`` (e.g. the
    classifier of a SEQ_CLS adapter), which PEFT saves next to the adapter weights."""
    path = tensor[len(MODULE_PREFIX) :] if tensor.startswith(MODULE_PREFIX) else tensor
    parts = path.split(".")
    # PEFT's rule: a module is saved when its name *ends with* an entry, so "classifier" also
    # saves DistilBERT's "pre_classifier".
    modules = (".".join(parts[:k]) for k in range(1, len(parts)))
    return any(module.endswith(name) for module in modules for name in modules_to_save)


def detected(
    folder: AdapterFolder,
    raw: dict[str, Any],
    *,
    architecture: str,
    config: BaseModel,
    variant: str | None,
    hidden_size: int | None = None,
) -> DetectedAdapter:
    """The DetectedAdapter of a PEFT folder whose method config ``config`` has been read."""
    envelope = parse(PeftEnvelope, raw, folder.where(CONFIG_FILE))
    files, weights = adapter_files(folder, WEIGHT_FILES, reported=WEIGHT_FILES[0])
    return DetectedAdapter(
        architecture=architecture,
        format=FORMAT,
        config=config.model_dump(mode="json"),
        files=files,
        variant=variant,
        base_model=envelope.base_model_name_or_path,
        model_type=envelope.guessed_model_type(),
        hidden_size=hidden_size,
        task=envelope.task_type,
        extra={WHERE_KEY: folder.where(weights)},
    )


class StrictFile(BaseModel):
    """Base for the models of a method's keys in a PEFT file: unknown keys are ignored (newer
    PEFT writes keys older readers do not know), known keys must have the right type."""

    model_config = ConfigDict(extra="ignore", strict=True)

    modules_to_save: list[str] | None = None

    def saved_modules(self) -> list[str]:
        """``modules_to_save`` without repeats (PEFT appends its task defaults more than once)."""
        return list(dict.fromkeys(self.modules_to_save or []))
