"""Reading bottleneck adapters saved by AdapterHub (PEFT has no bottleneck method)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from hubcli.plugin_api import AdapterFolder, DetectedAdapter, TensorInfo
from hubcli.plugin_api.formats import adapterhub
from hubcli.plugin_api.formats.reading import (
    CONFIG_FILE,
    Checker,
    known_keys,
    layer_index,
    parse,
    unsupported,
)
from plugins.architectures.bottleneck.config import BottleneckConfig

ARCHITECTURE = "bottleneck"
KEY = re.compile(r"^(?P<location>.+)\.adapters\.(?P<name>[^.]+)\.(?P<param>.+)$")
"""``<layer path>.<location>.adapters.<adapter name>.<parameter>``."""


def from_adapterhub(folder: AdapterFolder, raw: dict[str, Any]) -> DetectedAdapter:
    envelope = adapterhub.envelope_of(folder, raw)
    where = folder.where(CONFIG_FILE)
    method = dict(envelope.config)
    if method.get("phm_layer"):
        raise unsupported(where, "config.phm_layer (Compacter)")
    method["non_linearity"] = envelope.activation(method.get("non_linearity"))
    config = parse(BottleneckConfig, known_keys(BottleneckConfig, method), where, "config.")
    if config.is_parallel:
        variant = "par_bn"
    elif config.mh_adapter and config.output_adapter:
        variant = "double_seq_bn"
    else:
        variant = "seq_bn"
    return adapterhub.detected(folder, envelope, architecture=ARCHITECTURE, config=config, variant=variant)


def expected_shapes(config: BottleneckConfig, hidden: int, down: int) -> dict[str, tuple[int, ...]]:
    """Every parameter one adapter module has for this config, with its shape. With
    ``ln_before`` the new layer norm is also ``adapter_down.0`` (one module, two names)."""
    linear = 1 if config.ln_before else 0
    shapes: dict[str, tuple[int, ...]] = {
        f"adapter_down.{linear}.weight": (down, hidden),
        f"adapter_down.{linear}.bias": (down,),
        "adapter_up.weight": (hidden, down),
        "adapter_up.bias": (hidden,),
    }
    norms = [name for name, on in (("before", config.ln_before), ("after", config.ln_after)) if on]
    for norm in norms:
        for param in ("weight", "bias"):
            shapes[f"adapter_norm_{norm}.{param}"] = (hidden,)
    if config.ln_before:
        shapes["adapter_down.0.weight"] = shapes["adapter_down.0.bias"] = (hidden,)
    if config.scaling in ("learned", "channel"):
        shapes["scaling"] = (1,) if config.scaling == "learned" else (hidden,)
    if config.use_gating:
        shapes["gate.weight"], shapes["gate.bias"] = (1, hidden), (1,)
    return shapes


def validate(adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
    config = BottleneckConfig.model_validate(adapter.config)
    check = Checker(adapter, tensors)
    modules: dict[str, dict[str, str]] = defaultdict(dict)
    for name in tensors:
        if "invertible_adapters." in name:
            raise check.fail(
                f"tensor {name!r}: invertible adapters (config.inv_adapter) are not supported yet"
            )
        found = KEY.match(name)
        if found is None:
            raise check.unexpected(name, "not an AdapterHub bottleneck weight")
        modules[found["location"]][found["param"]] = name
    check.require_some(list(modules), "bottleneck (….adapters.<name>.adapter_down/up)")
    per_layer = sum((config.mh_adapter, config.output_adapter, config.cross_adapter))
    layers: dict[int | None, int] = defaultdict(int)
    for location, params in modules.items():
        layer = layer_index(location)
        layers[layer] += 1
        first = next(iter(params.values()))
        if layer in config.leave_out:
            raise check.unexpected(first, f"layer {layer} is in config.leave_out")
        if layers[layer] > per_layer:
            raise check.unexpected(first, f"layer {layer} has more adapter places than the config")
        _check_module(check, config, adapter.hidden_size, location, params, layer)


def _check_module(
    check: Checker,
    config: BottleneckConfig,
    hidden: int | None,
    location: str,
    params: dict[str, str],
    layer: int | None,
) -> None:
    up = params.get("adapter_up.weight")
    if up is None:
        raise check.fail(f"adapter at {location!r} has no adapter_up.weight")
    hidden = hidden or check.tensors[up].shape[0]
    down = config.bottleneck_size(hidden, layer)
    if down is None:
        raise check.fail(f"config.reduction_factor gives no factor for layer {layer} ({location!r})")
    shapes = expected_shapes(config, hidden, down)
    for param, name in params.items():
        if param not in shapes:
            raise check.unexpected(name, "the config describes no such bottleneck parameter")
    for param, shape in shapes.items():  # weights before biases: the clearer message first
        if param in params:
            check.shape(params[param], shape, f"hidden size {hidden}, bottleneck {down}")
    missing = sorted(set(shapes) - set(params))
    if missing:
        raise check.fail(f"adapter at {location!r} lacks {', '.join(missing)}")


def parameter_count(adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> int:
    """Trained parameters, counting the ``ln_before`` norm once (it is saved under two names)."""
    config = BottleneckConfig.model_validate(adapter.config)
    return sum(
        info.numel for name, info in tensors.items() if not (config.ln_before and ".adapter_down.0." in name)
    )
