"""Fusion weights on disk: AdapterHub's files (read) and hubcli's own (read and write); the
file and tensor names are in ``hubcli.plugin_api.formats.fusion``. hubcli's tensor names are
the ``FusionLayers`` state dict's (``<layer>_<position>.<query|key|value>.<weight|bias>``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from hubcli.plugin_api import ActiveComposition, AdapterFormatError, ModelMismatchError
from hubcli.plugin_api.formats.fusion import (
    ADAPTERHUB_CONFIG,
    ADAPTERHUB_WEIGHTS,
    HEAD_PREFIX,
    OWN_CONFIG,
    OWN_FORMAT,
    OWN_WEIGHTS,
    FusionSettings,
    own_key,
)
from plugins.compositions.fuse.layer import FusionLayers


def fusion_layers(setup: ActiveComposition, adapters: list[str] | None = None) -> FusionLayers:
    """The fusion layers of the (only, or the one over ``adapters``) fuse block of ``setup``."""
    found = [
        o for o in setup.owned.values() if isinstance(o, FusionLayers) and adapters in (None, o.adapters)
    ]
    if len(found) != 1:
        raise ModelMismatchError(f"the active composition has {len(found)} matching fuse blocks, not one")
    return found[0]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterFormatError(f"{path}: unreadable fusion config ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise AdapterFormatError(f"{path}: not a fusion config (no 'config' object)")
    return data


def _adapterhub_state(folder: Path) -> dict[str, torch.Tensor]:
    for name in ADAPTERHUB_WEIGHTS:
        path = folder / name
        if path.is_file():
            if name.endswith(".safetensors"):
                from safetensors.torch import load_file

                raw = load_file(path)
            else:
                raw = torch.load(path, map_location="cpu", weights_only=True)
            break
    else:
        raise AdapterFormatError(f"{folder}: no fusion weights ({' or '.join(ADAPTERHUB_WEIGHTS)})")
    state = {}
    for key, tensor in raw.items():
        name = own_key(key)
        if name is None:
            raise AdapterFormatError(f"{folder}: {key!r} is not an AdapterFusion weight")
        state[name] = tensor
    return state


def fusion_names(folder: str | Path) -> list[str] | None:
    """The adapters a saved fusion (AdapterHub's or ours) was trained over, in order."""
    folder = Path(folder)
    own = (folder / OWN_CONFIG).is_file()
    names = _read_json(folder / (OWN_CONFIG if own else ADAPTERHUB_CONFIG)).get(
        "adapters" if own else "adapter_names"
    )
    return names if isinstance(names, list) else None


def load_into(layers: FusionLayers, folder: str | Path) -> FusionLayers:
    """Read the fusion saved in ``folder`` (AdapterHub's files or ours) into ``layers``."""
    folder = Path(folder)
    own = (folder / OWN_CONFIG).is_file()
    data = _read_json(folder / (OWN_CONFIG if own else ADAPTERHUB_CONFIG))
    names = fusion_names(folder)
    if names is not None and names != layers.adapters:
        raise ModelMismatchError(
            f"{folder}: fusion over {', '.join(names)}, not over {', '.join(layers.adapters)} (same order)"
        )
    try:
        settings = FusionSettings.model_validate(data["config"])
    except (KeyError, ValidationError) as exc:
        raise AdapterFormatError(
            f"{folder}: fusion settings are malformed ({str(exc).splitlines()[0]})"
        ) from None
    layers.reconfigure(settings)
    if own and data.get("head"):
        layers.add_head(data["head"])
    if own:
        from safetensors.torch import load_file

        state = load_file(folder / OWN_WEIGHTS)
    else:
        state = _adapterhub_state(folder)
    head = {
        key.removeprefix(HEAD_PREFIX): state.pop(key) for key in list(state) if key.startswith(HEAD_PREFIX)
    }
    if layers.head is not None:
        _load_head(layers.head, head, folder)
    expected = layers.layers.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelMismatchError(
            f"{folder}: fusion weights do not fit the model's sub-blocks "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise ModelMismatchError(
                f"{folder}: fusion weight {key} is {tuple(tensor.shape)}, expected {tuple(expected[key].shape)}"
            )
    layers.layers.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return layers


def _load_head(head: torch.nn.Module, state: dict[str, torch.Tensor], folder: Path) -> None:
    expected = head.state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise ModelMismatchError(f"{folder}: the fusion's head weights do not fit its head config")
    head.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})


def save_layers(layers: FusionLayers, folder: str | Path) -> Path:
    """Write ``layers`` (and the fusion's own head, if any) as ``fusion.json`` + ``fusion.safetensors``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in layers.layers.state_dict().items()}
    if layers.head is not None:
        state.update(
            {HEAD_PREFIX + k: v.detach().to("cpu").contiguous() for k, v in layers.head.state_dict().items()}
        )
    save_file(state, folder / OWN_WEIGHTS)
    config = {"format": OWN_FORMAT, "adapters": layers.adapters, "config": layers.config.model_dump()}
    if layers.head_config is not None:
        config["head"] = layers.head_config
    (folder / OWN_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return folder


def load_fusion(setup: ActiveComposition, folder: str | Path) -> FusionLayers:
    """Load the fusion saved in ``folder`` into the fuse block of the active composition over
    the same adapters, in the same order."""
    return load_into(fusion_layers(setup, fusion_names(folder)), folder)


def save_fusion(setup: ActiveComposition, folder: str | Path, adapters: list[str] | None = None) -> Path:
    """Write the fuse block's layers (the only one, or the one over ``adapters``)."""
    return save_layers(fusion_layers(setup, adapters), folder)
