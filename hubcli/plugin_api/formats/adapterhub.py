"""AdapterHub's (the ``adapters`` library's) adapter folders, for any method it saves.

``adapter_config.json`` wraps the method config: ``{"config": {...}, "name", "model_name",
"model_type", "hidden_size", "model_class", "version"}``. ``config.architecture`` is absent for
bottleneck adapters, else ``lora`` (IA³ is a LoRA config with ``composition_mode: "scale"``),
``prefix_tuning``, ``prompt_tuning`` … Weights are ``adapter.safetensors`` or the pickle
``pytorch_adapter.bin``; an optional prediction head comes as ``head_config.json`` with
``model_head.safetensors`` or ``pytorch_model_head.bin``. Weight names are full module paths
with the adapter's name inside (``….loras.<name>.lora_A``).

``adapters`` runs every method of its LoRA family (LoRA, IA³, VeRA) through one layer class
with one config (``LoraFamilyFile``) and one tensor naming (``LORA_KEY``); the helpers for that
family serve any plugin of it. Import side: no torch (``lora_family_tensors`` and
``fused_thirds`` take loaded tensors and a model target, but import nothing for them).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, PositiveInt

from hubcli.plugin_api import (
    AdapterFolder,
    AdapterFormatError,
    AttachTarget,
    DetectedAdapter,
    LoadedAdapter,
    ModelMismatchError,
)
from hubcli.plugin_api.formats.reading import (
    CONFIG_FILE,
    WHERE_KEY,
    Checker,
    adapter_files,
    first_present,
    layer_index,
    parse,
    unsupported,
)

if TYPE_CHECKING:
    import torch

FORMAT = "adapterhub"
WEIGHT_FILES = ("adapter.safetensors", "pytorch_adapter.bin")
HEAD_CONFIG = "head_config.json"
HEAD_WEIGHT_FILES = ("model_head.safetensors", "pytorch_model_head.bin")
LEGACY_ACTIVATIONS = {"gelu": "gelu_new", "gelu_orig": "gelu"}
"""Configs without ``version`` (adapter-transformers v1/v2) named activations the old way;
``adapters`` renames them on load, and so do we."""
_VERSION = re.compile(r"^adapters\.(\d+)\.(\d+)")
LORA_KEY = re.compile(r"^(?P<module>.+)\.loras\.(?P<name>[^.]+)\.(?P<param>.+)$")
"""LoRA and IA³ weights: ``<module path>.loras.<adapter name>.<lora_A | lora_B | m.weight | gate.…>``."""
QKV_ORDER = ("q", "k", "v")
"""The thirds of a fused QKV projection's output (GPT-2's ``c_attn``), in ``attn_matrices`` names."""


def method(raw: dict[str, Any]) -> str | None:
    """The hubcli architecture an AdapterHub config holds (``bottleneck``, ``lora``, ``ia3``,
    ``prefix_tuning`` …, or the unknown ``config.architecture`` as is); None when the file is not
    an AdapterHub config at all."""
    config = raw.get("config")
    if "peft_type" in raw or not isinstance(config, dict):
        return None
    architecture = config.get("architecture")
    if architecture is None:
        return "bottleneck"
    if architecture == "lora" and config.get("composition_mode") == "scale":
        return "ia3"
    return architecture if isinstance(architecture, str) else repr(architecture)


class Envelope(BaseModel):
    """The keys around the method config."""

    model_config = ConfigDict(extra="ignore", strict=True)

    config: dict[str, Any]
    name: str
    model_name: str | None = None
    model_type: str | None = None
    model_class: str | None = None
    hidden_size: int | None = None
    version: str | None = None

    def unit_scaling(self) -> bool:
        """``adapters`` < 1.1 ignored LoRA's alpha (ΔW was used unscaled); the library loads such
        files with alpha forced to r, so the effective scaling is 1, and we record that."""
        found = _VERSION.match(self.version or "")
        return found is not None and (int(found.group(1)), int(found.group(2))) < (1, 1)

    def activation(self, name: str | None) -> str | None:
        """The activation the library really uses for a saved name."""
        if self.version is None and name in LEGACY_ACTIVATIONS:
            return LEGACY_ACTIVATIONS[name]
        return name


class HeadConfig(BaseModel):
    """What we read of a saved prediction head (the file itself is kept verbatim)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    head_type: str
    label2id: dict[str, int] | None = None
    num_labels: int | None = None


class HeadEnvelope(BaseModel):
    """``head_config.json``: the head config inside its own envelope."""

    model_config = ConfigDict(extra="ignore", strict=True)

    config: HeadConfig


class AdapterHubTargets(BaseModel):
    """Where ``adapters`` puts LoRA/IA³ modules: attention matrices and the two feed-forward
    linears of every layer, minus ``leave_out``; the model-family plugin maps the names."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["adapterhub"] = "adapterhub"
    attn_matrices: list[str]
    selfattn: bool
    intermediate: bool
    output: bool
    leave_out: list[int] = []

    def merged_heads(self) -> int:
        """How many of q, k, v a fused QKV projection (GPT-2's c_attn) stacks in one lora_A."""
        return len(set(self.attn_matrices) & {"q", "k", "v"})

    def qkv_thirds(self) -> list[int]:
        """The output thirds (0 = q, 1 = k, 2 = v) of a fused QKV projection that
        ``attn_matrices`` enables, in the order ``adapters`` stacks their blocks."""
        return [QKV_ORDER.index(m) for m in QKV_ORDER if m in self.attn_matrices]


class MethodFile(BaseModel):
    """Base for the models of a method's keys inside ``config``: keys we do not know are
    skipped (the file is stored verbatim anyway), known keys must have the right type."""

    model_config = ConfigDict(extra="ignore", strict=True)


class LoraFamilyFile(MethodFile):
    """The keys of ``adapters``' LoRAConfig, which also describes IA³ (``composition_mode:
    "scale"``). The keys that decide where modules go are required: every version writes them,
    and guessing a default would put modules in the wrong places."""

    model_config = ConfigDict(extra="ignore", strict=True)

    r: PositiveInt
    alpha: float
    attn_matrices: list[str]
    selfattn_lora: bool
    intermediate_lora: bool
    output_lora: bool
    leave_out: list[int] = []
    composition_mode: Literal["add", "scale"] = "add"
    dropout: float = 0.0
    use_gating: bool = False
    use_dora: bool = False
    vera_d: float | None = None
    vera_b: float | None = None

    def targets(self) -> AdapterHubTargets:
        """Where the modules go, as a canonical config keeps it."""
        return AdapterHubTargets(
            attn_matrices=self.attn_matrices,
            selfattn=self.selfattn_lora,
            intermediate=self.intermediate_lora,
            output=self.output_lora,
            leave_out=self.leave_out,
        )


def read_lora_family(folder: AdapterFolder, envelope: Envelope) -> LoraFamilyFile:
    """The LoRA/IA³ method config, refusing VeRA (its shared random matrices are not saved
    with the adapter in a form we read yet)."""
    where = folder.where(CONFIG_FILE)
    found = parse(LoraFamilyFile, envelope.config, where, field_prefix="config.")
    if found.vera_d is not None or found.vera_b is not None:
        raise unsupported(where, "VeRA (config.vera_d / config.vera_b)")
    return found


def envelope_of(folder: AdapterFolder, raw: dict[str, Any]) -> Envelope:
    """The envelope of ``raw`` (read from ``folder``'s config), errors naming that file."""
    return parse(Envelope, raw, folder.where(CONFIG_FILE))


def detected(
    folder: AdapterFolder,
    envelope: Envelope,
    *,
    architecture: str,
    config: BaseModel,
    variant: str | None,
) -> DetectedAdapter:
    """The DetectedAdapter of an AdapterHub folder whose method config ``config`` has been read."""
    files, weights = adapter_files(folder, WEIGHT_FILES, reported=WEIGHT_FILES[1])
    task, labels = None, None
    if folder.exists(HEAD_CONFIG):
        head = parse(HeadEnvelope, folder.read_json(HEAD_CONFIG), folder.where(HEAD_CONFIG)).config
        head_weights = first_present(folder, HEAD_WEIGHT_FILES)
        if head_weights is None:
            raise AdapterFormatError(
                f"{folder.where(HEAD_WEIGHT_FILES[1])}: missing, but {HEAD_CONFIG} describes a head"
            )
        files[HEAD_CONFIG] = "head_config"
        files[head_weights] = "head_weights"
        task = head.head_type
        if head.label2id:
            labels = [label for label, _ in sorted(head.label2id.items(), key=lambda item: item[1])]
    return DetectedAdapter(
        architecture=architecture,
        format=FORMAT,
        config=config.model_dump(mode="json"),
        files=files,
        variant=variant,
        name=envelope.name,
        base_model=envelope.model_name,
        model_type=envelope.model_type,
        hidden_size=envelope.hidden_size,
        task=task,
        labels=labels,
        extra={WHERE_KEY: folder.where(weights)},
    )


def lora_family_modules(
    check: Checker, leave_out: list[int], known: dict[str, str], method: str
) -> dict[str, dict[str, str]]:
    """Group ``….loras.<name>.<param>`` tensors by module; refuse strays and left-out layers."""
    modules: dict[str, dict[str, str]] = defaultdict(dict)
    for name in check.tensors:
        found = LORA_KEY.match(name)
        if found is None or found["param"] not in known:
            raise check.unexpected(name, f"not an AdapterHub {method} weight")
        if layer_index(name) in leave_out:
            raise check.unexpected(name, f"layer {layer_index(name)} is in leave_out")
        modules[found["module"]][known[found["param"]]] = name
    return modules


def lora_family_tensors(adapter: LoadedAdapter) -> dict[str, dict[str, torch.Tensor]]:
    """Module path → {parameter name: tensor} of a loaded LoRA-family adapter's
    ``….loras.<name>.<parameter>`` keys; ``ModelMismatchError`` for any other key."""
    modules: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
    for key, tensor in adapter.tensors.items():
        found = LORA_KEY.match(key)
        if found is None:
            raise ModelMismatchError(
                f"adapter {adapter.name!r}: {key!r} is not an AdapterHub LoRA-family weight"
            )
        modules[found["module"]][found["param"]] = tensor
    return modules


def fused_thirds(target: AttachTarget, path: str, targets: AdapterHubTargets) -> list[int] | None:
    """For a fused QKV projection: the output thirds (0 = q, 1 = k, 2 = v) that the enabled
    matrices adapt, in saved order (``adapters`` stacks one block per enabled matrix); None for
    an ordinary projection."""
    qkv = target.family.points.qkv
    if qkv is None or not (path == qkv or path.endswith("." + qkv)):
        return None
    return targets.qkv_thirds()
