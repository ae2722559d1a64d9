"""AdapterHub prediction heads (``head_config.json`` + ``pytorch_model_head.bin`` /
``model_head.safetensors``), run on top of a bare backbone.

``adapters`` keeps its heads outside the transformers model (``…AdapterModel.heads``), so there
is no stock module to swap: ``TaskHeads`` is a forward hook on the backbone that adds ``logits``
to its output when an adapter with a head is active (the last active one wins, as with
``HeadSlot``). A classification head is ``adapters``' Sequential (dropout, linear, activation,
…, linear), so the saved ``heads.<name>.<index>.<param>`` tensors load by index. Its input is
one token per sequence: the first for encoders, the last non-padding token for decoders
(``ModelFamilyPlugin.sequence_pooling``), exactly as the ``…AdapterModel`` classes pool.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hubcli.plugin_api import CapabilityNotSupported, LoadedAdapter, ModelMismatchError
from hubcli.plugin_api.torch_modules import classification_head


class TaskHeads(nn.Module):
    """Per-adapter heads reading the backbone's last hidden state."""

    def __init__(self, setup: Any, pooling: str, pad_token_id: int | None) -> None:
        super().__init__()
        self.copies = nn.ModuleDict()
        self.setup = setup
        self.pooling = pooling
        self.pad_token_id = pad_token_id

    def pooled(self, hidden: torch.Tensor, input_ids: torch.Tensor | None) -> torch.Tensor:
        """One vector per sequence: token 0, or the last token that is not padding."""
        if self.pooling == "first":
            return hidden[:, 0]
        if input_ids is None or self.pad_token_id is None:
            return hidden[:, -1]
        last = (input_ids != self.pad_token_id).sum(-1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]

    def hook(self, _module: nn.Module, _args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
        names = self.setup.active_in(self.copies)
        if names:
            pooled = self.pooled(output["last_hidden_state"], kwargs.get("input_ids"))
            output["logits"] = self.setup.head_forward(self.copies, None, pooled)
        return output


def adapterhub_head(adapter: LoadedAdapter, hidden: int) -> nn.Sequential:
    """The head saved with ``adapter``, weights loaded; a one-line error for what we cannot run."""
    config = (adapter.head_config or {}).get("config") or {}
    kind = config.get("head_type")
    if kind != "classification":
        raise CapabilityNotSupported(f"adapter {adapter.name!r}: AdapterHub {kind!r} heads cannot run yet")
    if config.get("use_pooler"):
        raise CapabilityNotSupported(
            f"adapter {adapter.name!r}: heads on the model's pooler output (use_pooler) cannot run yet"
        )
    head = classification_head(config, hidden)
    prefix = f"heads.{(adapter.head_config or {}).get('name', adapter.name)}."
    state = {key.removeprefix(prefix): tensor for key, tensor in adapter.head_tensors.items()}
    try:
        head.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelMismatchError(
            f"adapter {adapter.name!r}: its head does not fit hidden size {hidden}: "
            f"{str(exc).splitlines()[-1].strip()}"
        ) from None
    return head.requires_grad_(False)
