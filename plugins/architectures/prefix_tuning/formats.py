"""Reading prefix-tuning adapters saved by PEFT and by AdapterHub, and checking their tensors.

PEFT saves one table ``prompt_embeddings`` [tokens, layers · 2 · token_dim]. ``adapters`` saves,
per location (``self_prefix``, ``cross_prefix`` …), either that table flattened
(``control_trans``) or the embedding + MLP that produce it (``wte``, ``control_trans.0/2``), and
writes every one of them once at the model's pool and again under each layer that uses it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import PositiveInt

from hubcli.plugin_api import AdapterFolder, DetectedAdapter, TensorInfo
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.reading import CONFIG_FILE, Checker, parse
from plugins.architectures.prefix_tuning.config import PrefixTuningConfig

ARCHITECTURE = "prefix_tuning"
PEFT_TENSOR = "prompt_embeddings"
POOL_KEY = re.compile(r"^(?P<path>.*?)prefix_tunings\.(?P<name>[^.]+)\.(?P<location>[^.]+)\.(?P<param>.+)$")
GATE_KEY = re.compile(r"^(?P<module>.+)\.prefix_gates\.(?P<name>[^.]+)\.(?P<param>weight|bias)$")


class PeftPrefixFile(peft.StrictFile):
    num_virtual_tokens: PositiveInt
    num_layers: PositiveInt | None = None
    token_dim: PositiveInt | None = None
    num_attention_heads: PositiveInt | None = None
    num_transformer_submodules: PositiveInt | None = None
    prefix_projection: bool = False


class HubPrefixFile(adapterhub.MethodFile):
    prefix_length: PositiveInt = 30
    flat: bool = False
    bottleneck_size: PositiveInt = 512
    non_linearity: str = "tanh"
    encoder_prefix: bool = True
    cross_prefix: bool = True
    leave_out: list[int] = []
    use_gating: bool = False
    shared_gating: bool = True


def from_peft(folder: AdapterFolder, raw: dict[str, Any]) -> DetectedAdapter:
    found = parse(PeftPrefixFile, raw, folder.where(CONFIG_FILE))
    config = PrefixTuningConfig(
        num_virtual_tokens=found.num_virtual_tokens,
        flat=True,
        num_layers=found.num_layers,
        token_dim=found.token_dim,
        num_heads=found.num_attention_heads,
        num_transformer_submodules=found.num_transformer_submodules or 1,
        prefix_projection=found.prefix_projection,
        modules_to_save=found.saved_modules(),
    )
    return peft.detected(folder, raw, architecture=ARCHITECTURE, config=config, variant="flat")


def from_adapterhub(folder: AdapterFolder, raw: dict[str, Any]) -> DetectedAdapter:
    envelope = adapterhub.envelope_of(folder, raw)
    found = parse(HubPrefixFile, envelope.config, folder.where(CONFIG_FILE), "config.")
    config = PrefixTuningConfig(
        num_virtual_tokens=found.prefix_length,
        flat=found.flat,
        bottleneck_size=None if found.flat else found.bottleneck_size,
        non_linearity=None if found.flat else envelope.activation(found.non_linearity),
        encoder_prefix=found.encoder_prefix,
        cross_prefix=found.cross_prefix,
        leave_out=found.leave_out,
        use_gating=found.use_gating,
        shared_gating=found.shared_gating,
    )
    variant = "flat" if found.flat else "reparametrized"
    return adapterhub.detected(folder, envelope, architecture=ARCHITECTURE, config=config, variant=variant)


def validate_peft(adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
    config = PrefixTuningConfig.model_validate(adapter.config)
    check = Checker(adapter, tensors)
    check.require_some([name for name in tensors if name == PEFT_TENSOR], PEFT_TENSOR)
    for name in tensors:
        if name != PEFT_TENSOR and not peft.saved_module(name, config.modules_to_save):
            raise check.unexpected(name, f"neither {PEFT_TENSOR!r} nor a module to save")
    width = None
    if config.num_layers and config.token_dim:
        width = config.num_layers * 2 * config.token_dim
    why = "num_virtual_tokens × num_layers·2·token_dim"
    if config.prefix_projection:
        why += "; with prefix_projection PEFT saves the projected table"
    check.shape(PEFT_TENSOR, (config.num_virtual_tokens * config.num_transformer_submodules, width), why)


def _pool(check: Checker) -> tuple[dict[tuple[str, str], str], list[str]]:
    """One tensor name per (location, parameter) of the pool, and the gate tensors; copies of the
    pool under each layer must agree with it."""
    pool: dict[tuple[str, str], str] = {}
    gates = []
    for name in check.tensors:
        if GATE_KEY.match(name):
            gates.append(name)
            continue
        found = POOL_KEY.match(name)
        if found is None:
            raise check.unexpected(name, "not an AdapterHub prefix-tuning weight")
        key = (found["location"], found["param"])
        first = pool.setdefault(key, name)
        if check.tensors[first].shape != check.tensors[name].shape:
            raise check.fail(
                f"tensor {name!r} has shape {list(check.tensors[name].shape)} but its copy "
                f"{first!r} has {list(check.tensors[first].shape)}"
            )
    return pool, gates


def validate_adapterhub(adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
    config = PrefixTuningConfig.model_validate(adapter.config)
    check = Checker(adapter, tensors)
    pool, gates = _pool(check)
    check.require_some(list(pool.values()), "prefix-tuning (….prefix_tunings.<name>.…)")
    tokens, hidden = config.num_virtual_tokens, adapter.hidden_size
    for location in sorted({location for location, _ in pool}):
        params = {param: name for (loc, param), name in pool.items() if loc == location}
        if set(params) == {"control_trans"}:  # the flat table (also what eject leaves)
            table = params["control_trans"]
            check.shape(table, (None,), "a flat key/value table")
            if check.tensors[table].numel % (2 * tokens):
                raise check.fail(
                    f"tensor {table!r} has {check.tensors[table].numel} values, not a multiple "
                    f"of 2 × prefix_length ({2 * tokens})"
                )
            continue
        if config.flat:
            raise check.fail(f"config.flat is true but {location!r} has {sorted(params)}")
        _check_mlp(check, config, params, hidden)
    for gate in gates:
        if not config.use_gating:
            raise check.unexpected(gate, "the config has use_gating false")
        outputs = 1 if config.shared_gating else 2
        shape = (outputs, hidden) if gate.endswith("weight") else (outputs,)
        check.shape(gate, shape, "prefix gate")


def _check_mlp(
    check: Checker, config: PrefixTuningConfig, params: dict[str, str], hidden: int | None
) -> None:
    """wte [tokens, hidden] → Linear(hidden, bottleneck) → act → Linear(bottleneck, layers·2·kv)."""
    wanted = {
        "wte.weight",
        "control_trans.0.weight",
        "control_trans.0.bias",
        "control_trans.2.weight",
        "control_trans.2.bias",
    }
    if set(params) != wanted:
        raise check.fail(f"prefix module has {sorted(params)}, expected {sorted(wanted)}")
    size = config.bottleneck_size
    check.shape(params["wte.weight"], (config.num_virtual_tokens, hidden), "wte is [prefix_length, hidden]")
    check.shape(params["control_trans.0.weight"], (size, hidden), "first MLP layer")
    check.shape(params["control_trans.0.bias"], (size,), "first MLP layer")
    check.shape(params["control_trans.2.weight"], (None, size), "second MLP layer")
    out = check.tensors[params["control_trans.2.weight"]].shape[0]
    if out % 2:
        raise check.fail(
            f"tensor {params['control_trans.2.weight']!r} has {out} rows: keys and values need an even number"
        )
    check.shape(params["control_trans.2.bias"], (out,), "second MLP layer")


def parameter_count(adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> int:
    """Trained parameters: each pool tensor once (the per-layer copies are the same tensor)."""
    if adapter.format == peft.FORMAT:
        return sum(info.numel for info in tensors.values())
    seen: set[tuple[str, str]] = set()
    total = 0
    for name, info in tensors.items():
        found = POOL_KEY.match(name)
        key = (found["location"], found["param"]) if found else ("", name)
        if key not in seen:
            seen.add(key)
            total += info.numel
    return total
