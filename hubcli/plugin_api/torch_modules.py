"""The torch side of the plugin contract: the base classes a plugin's model code subclasses and
the helpers it calls while attaching.

This module imports torch at module level, so ``hubcli.plugin_api``'s ``__init__`` does not
import it: import it where your model code runs (the module your ``runtime`` names, see
``ArchitecturePlugin.runtime``), never from the module your entry point names. The engine
(``hubcli.engine``) runs these classes; their names and methods are part of the contract.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from hubcli.plugin_api.errors import CapabilityNotSupported, ModelMismatchError
from hubcli.plugin_api.kinds import ModelFamilyPlugin
from hubcli.plugin_api.model import AttachTarget
from hubcli.plugin_api.updates import LowRankUpdate

__all__ = [
    "POSITIONS",
    "LeafAdapter",
    "InputAdapter",
    "extend_attention_mask",
    "SubBlock",
    "BlockOutput",
    "BlockAdapter",
    "attach_saved_modules",
    "saved_module_of",
    "activation",
    "classification_head",
    "family_for",
]


class LeafAdapter(nn.Module):
    """One adapter's contribution at one leaf. Subclasses override what they change.

    ``adapt_input`` rewrites what the base projection sees (IA³ on FFN inputs);
    ``adapt_output`` rewrites its result (LoRA adds B·A·x, IA³ scales keys/values). ``x`` is the
    (adapted) input, ``y`` the current output, ``base`` the original projection.
    """

    def adapt_input(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def adapt_output(self, x: torch.Tensor, y: torch.Tensor, base: nn.Module) -> torch.Tensor:
        return y

    def merge(self, base: nn.Module) -> None:
        """Fold this adapter into ``base``'s weights, keeping what ``unmerge`` needs."""
        raise CapabilityNotSupported(f"{type(self).__name__} cannot merge into base weights")

    def unmerge(self, base: nn.Module) -> None:
        raise CapabilityNotSupported(f"{type(self).__name__} cannot merge into base weights")

    def low_rank_factors(self) -> LowRankUpdate | None:
        """This adapter's ΔW (no module path: the slot is the place) when it only adds s·B·A·x
        to the output, so that a per-row batch can gather many adapters' factors into one
        batched product (``hubcli.compose.gathered``); None otherwise."""
        return None


class InputAdapter(nn.Module):
    """An adapter that works on the model's inputs (prompt tuning, prefix tuning).

    ``prepare`` receives the keyword arguments of the model call and returns new ones;
    ``virtual_tokens`` is how many positions it prepends to the outputs (0 for a prefix, which
    lives only in the attention keys/values).
    """

    virtual_tokens: int = 0

    def prepare(self, inputs: dict[str, Any], embed: nn.Module) -> dict[str, Any]:
        raise NotImplementedError


def extend_attention_mask(inputs: dict[str, Any], batch: int, count: int) -> None:
    """Prepend ``count`` attended positions to ``inputs["attention_mask"]`` (PEFT's rule for
    prompts and prefixes). Without a mask the model attends to every position anyway."""
    mask = inputs.get("attention_mask")
    if mask is None:
        return
    ones = torch.ones(batch, count, dtype=mask.dtype, device=mask.device)
    inputs["attention_mask"] = torch.cat([ones, mask], dim=1)


POSITIONS = ("attention", "ffn")
"""The sub-blocks of a layer an adapter can sit on (``adapters``' mh_adapter / output_adapter)."""


@dataclass
class SubBlock:
    """What a block adapter sees at one sub-block in one forward call."""

    h: torch.Tensor
    """The sub-block's output before the residual add (output projection result)."""
    x: torch.Tensor
    """The residual stream entering the sub-block."""
    norm: nn.Module | None
    """Post-LN families: the model's LayerNorm closing the sub-block; pre-LN: None."""

    def normed(self, z: torch.Tensor) -> torch.Tensor:
        """The model's own norm at this point (the identity in pre-LN families). ``forward``
        directly: calling the module would run the block hook installed on it again."""
        return z if self.norm is None else self.norm.forward(z)


class BlockOutput(NamedTuple):
    value: torch.Tensor
    closed: bool
    """False: the sub-block still adds the residual and applies its norm, ``norm(value + x)``;
    True: ``value`` is already the sub-block's final output."""


class BlockAdapter(nn.Module, ABC):
    """One adapter's module at one sub-block, in two steps so that several can be stacked:
    ``transform`` maps the running hidden state to this adapter's output (the first adapter gets
    ``h``, the next one the previous output), ``finish`` closes the sub-block after the last."""

    @abstractmethod
    def transform(self, hidden: torch.Tensor, block: SubBlock) -> torch.Tensor: ...

    @abstractmethod
    def finish(self, hidden: torch.Tensor, block: SubBlock) -> BlockOutput: ...


PEFT_PREFIXES = ("base_model.model.", "base_model.")


def saved_module_of(key: str, modules_to_save: Iterable[str]) -> tuple[str, str] | None:
    """``(module path, parameter name)`` when ``key`` belongs to a saved module, else None.

    PEFT's rule: a module is saved when its path *ends with* a listed name, so "classifier"
    also catches DistilBERT's ``pre_classifier``; the shortest matching path wins.
    """
    names = tuple(modules_to_save)
    path = next((key[len(p) :] for p in PEFT_PREFIXES if key.startswith(p)), key)
    parts = path.split(".")
    for index in range(len(parts) - 1):
        module = ".".join(parts[: index + 1])
        if names and module.endswith(names):
            return module, ".".join(parts[index + 1 :])
    return None


def attach_saved_modules(
    target: AttachTarget, name: str, tensors: Mapping[str, torch.Tensor], modules_to_save: Iterable[str]
) -> set[str]:
    """Give adapter ``name`` its copies of the saved modules; returns the tensor keys used."""
    wanted = set(modules_to_save)
    grouped: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
    used = set()
    for key, tensor in tensors.items():
        found = saved_module_of(key, wanted)
        if found:
            grouped[found[0]][found[1]] = tensor
            used.add(key)
    for path, state in grouped.items():
        target.add_head(name, path, state)
    return used


def activation(name: str) -> nn.Module:
    """The non-linearity an AdapterHub config names (bottleneck ``non_linearity``, head
    ``activation_function``), built as ``adapters`` builds it: transformers' activation table,
    plus ``leakyrelu``, which that table lacks."""
    if name.lower() == "leakyrelu":
        return nn.LeakyReLU()
    from transformers.activations import get_activation

    build: Callable[[str], nn.Module] = get_activation  # transformers leaves it untyped
    return build(name.lower())


def classification_head(config: Mapping[str, Any], hidden: int) -> nn.Sequential:
    """The layers ``adapters``' ClassificationHead builds, in its order (hence its indices):
    each layer starts with a dropout; inner layers are hidden→hidden linears followed by the
    activation, the last one is the hidden→labels linear."""
    layers: list[nn.Module] = []
    count = config.get("layers", 2)
    for index in range(count):
        layers.append(nn.Dropout(config.get("dropout_prob") or 0.0))
        if index < count - 1:
            layers.append(nn.Linear(hidden, hidden))
            if config.get("activation_function"):
                layers.append(activation(config["activation_function"]))
        else:
            layers.append(nn.Linear(hidden, config["num_labels"], bias=config.get("bias", True)))
    return nn.Sequential(*layers)


def family_for(model_type: str) -> ModelFamilyPlugin:
    """The installed family plugin covering ``model_type``; a one-line error listing the
    installed families (and their model types) when none does."""
    from hubcli.discovery import manager

    families: dict[str, ModelFamilyPlugin] = manager.load_all("model")
    for family in families.values():
        if model_type in family.model_types:
            return family
    installed = "; ".join(
        f"{name} ({', '.join(family.model_types)})" for name, family in sorted(families.items())
    )
    raise ModelMismatchError(
        f"no model-family plugin covers model_type {model_type!r} (installed: {installed or 'none'})"
    )
