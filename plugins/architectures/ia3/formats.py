"""Reading IA³ adapters saved by PEFT and by AdapterHub, and checking their tensors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubcli.plugin_api import AdapterFolder, DetectedAdapter, TensorInfo
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.reading import CONFIG_FILE, Checker, parse, unsupported
from plugins.architectures.ia3.config import IA3Config

ARCHITECTURE = "ia3"
VECTOR = "ia3_l"


class PeftIA3File(peft.StrictFile):
    target_modules: list[str] | str | None = None
    exclude_modules: list[str] | str | None = None
    feedforward_modules: list[str] | str | None = None
    fan_in_fan_out: bool = False


def from_peft(folder: AdapterFolder, raw: dict[str, Any]) -> DetectedAdapter:
    found = parse(PeftIA3File, raw, folder.where(CONFIG_FILE))
    config = IA3Config(
        targets=peft.PeftTargets(target_modules=found.target_modules, exclude_modules=found.exclude_modules),
        feedforward_modules=found.feedforward_modules,
        fan_in_fan_out=found.fan_in_fan_out,
        modules_to_save=found.saved_modules(),
    )
    return peft.detected(folder, raw, architecture=ARCHITECTURE, config=config, variant="ia3")


def from_adapterhub(folder: AdapterFolder, raw: dict[str, Any]) -> DetectedAdapter:
    envelope = adapterhub.envelope_of(folder, raw)
    found = adapterhub.read_lora_family(folder, envelope)
    where = folder.where(CONFIG_FILE)
    if found.r != 1:
        raise unsupported(where, f"composition_mode 'scale' with r={found.r}", "IA³ needs r = 1")
    if found.use_dora:
        raise unsupported(where, "IA³ with use_dora")
    config = IA3Config(
        targets=found.targets(),
        scale=1.0 if envelope.unit_scaling() else found.alpha,
        use_gating=found.use_gating,
    )
    return adapterhub.detected(folder, envelope, architecture=ARCHITECTURE, config=config, variant="ia3")


def validate_peft(adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
    """Each vector is [out, 1], or [1, in] for a feed-forward module (it scales the input)."""
    config = IA3Config.model_validate(adapter.config)
    check = Checker(adapter, tensors)
    vectors = []
    for name in tensors:
        module = peft.module_of(name, VECTOR)
        if module is None:
            if peft.saved_module(name, config.modules_to_save):
                continue
            raise check.unexpected(name, f"not an IA³ vector (….{VECTOR}) or a module to save")
        vectors.append(name)
        if config.is_feedforward(module):
            check.shape(name, (1, None), f"{module!r} is a feed-forward module: [1, in]")
        else:
            check.shape(name, (None, 1), f"{module!r} scales its output: [out, 1]")
    check.require_some(vectors, f"IA³ (….{VECTOR})")


def validate_adapterhub(adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
    config = IA3Config.model_validate(adapter.config)
    targets = config.targets
    assert isinstance(targets, adapterhub.AdapterHubTargets)
    check = Checker(adapter, tensors)
    parts = {"lora_B": "vector", "gate.weight": "gate", "gate.bias": "gate"}
    modules = adapterhub.lora_family_modules(check, targets.leave_out, parts, "IA³")
    check.require_some(list(modules), "IA³ (….loras.<name>.lora_B)")
    for module, found in modules.items():
        if "vector" not in found:
            raise check.fail(f"module {module!r} has a gate but no lora_B vector")
        check.shape(found["vector"], (None, 1), "one factor per output: [out, 1]")
        if "gate" in found and not config.use_gating:
            raise check.unexpected(found["gate"], "the config has use_gating false")
