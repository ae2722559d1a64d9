"""Reading saved fusions at import: AdapterHub's ``save_adapter_fusion`` folders and hubcli's
own (what ``fuse.files.save_fusion`` and ``hubcli train --fuse`` write). Config only, no torch:
tensor names and shapes are checked from the safetensors headers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hubcli.plugin_api import AdapterFolder, AdapterFormatError, DetectedAdapter, TensorInfo
from hubcli.plugin_api.formats.fusion import (
    ADAPTERHUB_CONFIG,
    ADAPTERHUB_WEIGHTS,
    HEAD_PREFIX,
    OWN_CONFIG,
    OWN_FORMAT,
    OWN_KEY,
    OWN_WEIGHTS,
    FusionSettings,
    own_key,
)
from hubcli.plugin_api.formats.reading import CARD_FILE, WHERE_KEY, Checker, first_present, parse, unsupported


class AdapterHubFusionFile(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    adapter_names: list[str] = Field(min_length=2)
    config: FusionSettings
    model_name: str | None = None
    model_type: str | None = None
    hidden_size: int | None = None


class OwnFusionFile(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    format: str
    adapters: list[str] = Field(min_length=2)
    config: FusionSettings
    head: dict[str, Any] | None = None


class FusionConfig(BaseModel):
    """The canonical config stored in the registry: which adapters, in which order, and how."""

    model_config = ConfigDict(extra="forbid", strict=True)

    adapters: list[str]
    fusion: FusionSettings
    head: dict[str, Any] | None = None
    """The fusion's own AdapterHub classification head config (hubcli-trained fusions)."""


def detect(folder: AdapterFolder) -> DetectedAdapter | None:
    if folder.exists(OWN_CONFIG):
        raw = folder.read_json(OWN_CONFIG)
        if not isinstance(raw, dict) or raw.get("format") != OWN_FORMAT:
            return None
        own = parse(OwnFusionFile, raw, folder.where(OWN_CONFIG))
        facts: dict[str, Any] = {}
        if own.head is not None:
            label2id = own.head.get("label2id") or {}
            facts = {"task": own.head.get("head_type"), "labels": sorted(label2id, key=label2id.get) or None}
        return _detected(
            folder, "hubcli", own.adapters, own.config, OWN_CONFIG, (OWN_WEIGHTS,), facts, own.head
        )
    if not folder.exists(ADAPTERHUB_CONFIG):
        return None
    hub = parse(AdapterHubFusionFile, folder.read_json(ADAPTERHUB_CONFIG), folder.where(ADAPTERHUB_CONFIG))
    facts = {"base_model": hub.model_name, "model_type": hub.model_type, "hidden_size": hub.hidden_size}
    return _detected(
        folder, "adapterhub", hub.adapter_names, hub.config, ADAPTERHUB_CONFIG, ADAPTERHUB_WEIGHTS, facts
    )


def _detected(
    folder: AdapterFolder,
    fmt: str,
    adapters: list[str],
    settings: FusionSettings,
    config_file: str,
    weight_files: tuple[str, ...],
    facts: Mapping[str, Any],
    head: dict[str, Any] | None = None,
) -> DetectedAdapter:
    where = folder.where(config_file)
    if len(set(adapters)) != len(adapters):
        raise AdapterFormatError(f"{where}: a fused adapter is named twice ({', '.join(adapters)})")
    if settings.temperature:
        raise unsupported(where, "fusion with temperature annealing (config.temperature)")
    weights = first_present(folder, weight_files)
    if weights is None:
        raise AdapterFormatError(f"{folder.where(weight_files[0])}: missing: the fusion has no weights")
    files = {config_file: "fusion_config", weights: "fusion_weights"}
    if folder.exists(CARD_FILE):
        files[CARD_FILE] = "card"
    config = FusionConfig(adapters=adapters, fusion=settings, head=head)
    return DetectedAdapter(
        architecture="fusion",
        format=fmt,
        config=config.model_dump(mode="json"),
        files=files,
        variant="static" if not settings.value else "dynamic",
        name="fusion-" + "-".join(adapters),
        extra={WHERE_KEY: folder.where(weights)},
        **facts,
    )


def validate(adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
    """Every tensor is a fusion weight at a numbered sub-block (or, with a head config, a
    ``head.*`` tensor); each sub-block has exactly the settings' query/key/value tensors, all
    [hidden, hidden] (biases [hidden])."""
    check = Checker(adapter, tensors)
    config = FusionConfig.model_validate(adapter.config)
    settings = config.fusion
    head = [name for name in tensors if config.head is not None and name.startswith(HEAD_PREFIX)]
    if config.head is not None and not head:
        raise check.fail("fusion.json describes a head but no head.* tensors are saved")
    tensors = {name: info for name, info in tensors.items() if name not in head}
    check.tensors = tensors
    places: dict[str, set[str]] = defaultdict(set)
    for name in tensors:
        key = name if adapter.format == "hubcli" else own_key(name)
        found = OWN_KEY.match(key or "")
        if found is None:
            raise check.unexpected(name, "not a fusion weight")
        places[f"{found['layer']}_{found['position']}"].add(found["param"])
    if not places:
        raise check.fail("no fusion weights")
    wanted = settings.parameters()
    for place, params in places.items():
        if params != wanted:
            raise check.fail(
                f"fusion layer {place} has {sorted(params)}, the config asks for {sorted(wanted)}"
            )
    hidden = adapter.hidden_size or next(iter(tensors.values())).shape[-1]
    for name in tensors:
        expected = (hidden,) if name.endswith(".bias") else (hidden, hidden)
        check.shape(name, expected, f"hidden size {hidden}")
