"""Reading prompt-tuning adapters saved by PEFT and by AdapterHub, and checking their tensors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import PositiveInt

from hubcli.plugin_api import AdapterFolder, DetectedAdapter, TensorInfo
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.reading import CONFIG_FILE, Checker, parse
from plugins.architectures.prompt_tuning.config import PromptTuningConfig

ARCHITECTURE = "prompt_tuning"
PEFT_TENSOR = "prompt_embeddings"
HUB_KEY = re.compile(r"^(?P<path>.*?)prompt_tunings\.(?P<name>[^.]+)\.prompt_embedding\.weight$")


class PeftPromptFile(peft.StrictFile):
    num_virtual_tokens: PositiveInt
    token_dim: PositiveInt | None = None
    num_transformer_submodules: PositiveInt | None = None
    prompt_tuning_init: str | None = None
    prompt_tuning_init_text: str | None = None


class HubPromptFile(adapterhub.MethodFile):
    prompt_length: PositiveInt = 10
    prompt_init: str = "random_uniform"
    prompt_init_text: str | None = None
    combine: Literal["prefix", "prefix_after_bos"] = "prefix"


def from_peft(folder: AdapterFolder, raw: dict[str, Any]) -> DetectedAdapter:
    found = parse(PeftPromptFile, raw, folder.where(CONFIG_FILE))
    config = PromptTuningConfig(
        num_virtual_tokens=found.num_virtual_tokens,
        token_dim=found.token_dim,
        num_transformer_submodules=found.num_transformer_submodules or 1,
        modules_to_save=found.saved_modules(),
        init=found.prompt_tuning_init,
        init_text=found.prompt_tuning_init_text,
    )
    return peft.detected(
        folder,
        raw,
        architecture=ARCHITECTURE,
        config=config,
        variant=None,
        hidden_size=found.token_dim,
    )


def from_adapterhub(folder: AdapterFolder, raw: dict[str, Any]) -> DetectedAdapter:
    envelope = adapterhub.envelope_of(folder, raw)
    found = parse(HubPromptFile, envelope.config, folder.where(CONFIG_FILE), "config.")
    config = PromptTuningConfig(
        num_virtual_tokens=found.prompt_length,
        token_dim=envelope.hidden_size,
        combine=found.combine,
        init=found.prompt_init,
        init_text=found.prompt_init_text,
    )
    return adapterhub.detected(folder, envelope, architecture=ARCHITECTURE, config=config, variant=None)


def validate(adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
    """Exactly one prompt table: [tokens × submodules, token_dim]."""
    config = PromptTuningConfig.model_validate(adapter.config)
    check = Checker(adapter, tensors)
    if adapter.format == peft.FORMAT:
        ours = [name for name in tensors if name == PEFT_TENSOR]
    else:
        ours = [name for name in tensors if HUB_KEY.match(name)]
    check.require_some(ours, "prompt-tuning embedding")
    for name in tensors:
        if name != ours[0] and not peft.saved_module(name, config.modules_to_save):
            raise check.unexpected(name, "a prompt-tuning adapter has one embedding table")
    rows = config.num_virtual_tokens * config.num_transformer_submodules
    check.shape(ours[0], (rows, config.token_dim), "[num_virtual_tokens, token_dim]")
