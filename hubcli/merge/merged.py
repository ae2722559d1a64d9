"""What every merge returns, and what they share: reading the inputs' updates through their
architecture plugin, checking the inputs, averaging PEFT ``modules_to_save``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from hubcli import discovery
from hubcli.merge.spec import MergeError, MergeSpec
from hubcli.merge.task_vectors import weighted_sum
from hubcli.plugin_api import CapabilityNotSupported, LoadedAdapter, ModuleUpdate
from hubcli.plugin_api.torch_modules import saved_module_of


@dataclass
class MergedAdapter:
    """A merge's result: the updates the architecture plugin writes as the new adapter, the
    averaged saved modules written beside them, and a summary of how it was made (ranks,
    approximation errors) for the report."""

    updates: list[ModuleUpdate]
    saved: dict[str, torch.Tensor] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def refuse_head_files(adapter: LoadedAdapter) -> None:
    """AdapterHub prediction heads come as files of their own, which a merge does not write."""
    if adapter.head_tensors:
        raise MergeError(
            f"adapter {adapter.name!r} carries a prediction head (head files): merging AdapterHub "
            "heads is not supported (merge adapters without heads)"
        )


def updates_of(adapter: LoadedAdapter) -> list[ModuleUpdate]:
    """``adapter``'s per-module updates from its architecture plugin, which alone knows the
    format's tensor names and the method's scaling rules."""
    refuse_head_files(adapter)
    try:
        return discovery.architecture(adapter.architecture).module_updates(adapter)
    except CapabilityNotSupported as exc:
        raise MergeError(str(exc)) from None


def saved_modules_of(adapter: LoadedAdapter) -> dict[str, torch.Tensor]:
    """The tensors of the adapter's PEFT ``modules_to_save`` (e.g. a classifier), by file name."""
    names = adapter.config.get("modules_to_save") or []
    return {key: tensor for key, tensor in adapter.tensors.items() if names and saved_module_of(key, names)}


def average_saved_modules(
    adapters: Sequence[LoadedAdapter], saved: Sequence[dict[str, torch.Tensor]], spec: MergeSpec
) -> dict[str, torch.Tensor]:
    """PEFT ``modules_to_save`` are whole trained modules (a SEQ_CLS classifier), not deltas to a
    shared base. A linear merge averages them with its normalised weights, as a model soup does:
    an approximation that only makes sense for heads of the same task and labels. Every other
    method treats its inputs as deltas, so it refuses such modules."""
    if not any(saved):
        return {}
    if spec.method != "linear":
        carrier = next(a for a, s in zip(adapters, saved, strict=True) if s)
        raise MergeError(
            f"adapter {carrier.name!r} carries modules_to_save "
            f"({', '.join(carrier.config.get('modules_to_save') or [])}): whole trained modules can "
            f"only be averaged (--method linear), not merged by {spec.method}"
        )
    keys = same_layout(
        [a.name for a in adapters],
        [{k: tuple(v.shape) for k, v in s.items()} for s in saved],
        "saved modules",
    )
    weights = spec.combination_weights
    return {
        key: weighted_sum([s[key].to(torch.float64) for s in saved], weights).to(torch.float32).contiguous()
        for key in keys
    }


def same_layout(
    name_of: Sequence[str], groups: Sequence[Mapping[str, tuple[int, ...]]], what: str
) -> list[str]:
    """The keys every input shares, after checking that all inputs have the same keys with the
    same shapes; the error names the first input that differs and the key."""
    first_name, first = name_of[0], groups[0]
    for name, group in zip(name_of[1:], groups[1:], strict=True):
        missing = sorted(set(first) - set(group))
        extra = sorted(set(group) - set(first))
        if missing or extra:
            key, side = (missing[0], f"{name!r} lacks") if missing else (extra[0], f"only {name!r} has")
            raise MergeError(
                f"{first_name!r} and {name!r} adapt different {what}: {side} {key!r} "
                "(merging needs the same modules in every input)"
            )
        for key in first:
            if tuple(first[key]) != tuple(group[key]):
                raise MergeError(
                    f"{key!r} has shape {list(first[key])} in {first_name!r} but "
                    f"{list(group[key])} in {name!r} (merging needs {what} of the same shapes)"
                )
    return sorted(first)
