"""A base model with adapters attached: the object the Python API and ``hubcli predict`` use.

``StitchedModel`` implements ``hubcli.plugin_api.AttachTarget``: architecture plugins ask it for
modules, slots, heads and input adapters while they attach. It never touches a layer's forward;
input adapters run in a forward pre-hook on the top model, so calling ``stitched.model(...)``
directly behaves the same as ``stitched.forward(...)`` (except that ``forward`` drops the
positions of prompt-tuning virtual tokens from token-level outputs).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from hubcli import discovery
from hubcli.engine import blocks
from hubcli.engine.slots import ActiveSetup, AdapterSlot, HeadSlot
from hubcli.engine.task_heads import TaskHeads, adapterhub_head
from hubcli.plugin_api import HubcliError, LoadedAdapter, ModelMismatchError
from hubcli.plugin_api.torch_modules import InputAdapter, family_for


class StitchedModel:
    """``model`` (a stock ``transformers`` model) plus the adapters attached to it by name."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.family = family_for(model.config.model_type)
        self.dims = self.family.dims(model.config)
        self.setup = ActiveSetup()
        self.architectures: dict[str, str] = {}
        """Attached adapter name → architecture name."""
        self.slots: dict[str, AdapterSlot] = {}
        self.heads: dict[str, HeadSlot] = {}
        self.input_adapters: dict[str, InputAdapter] = {}
        self.blocks: dict[tuple[int, str], blocks.BlockSlot] = {}
        """(layer index, "attention" | "ffn") → the block slot of that sub-block (bottlenecks)."""
        self.block_hooked_paths: set[str] = set()
        """Projection slots that block hooks sit on: they stay even when empty."""
        self.task_heads: TaskHeads | None = None
        """AdapterHub prediction heads, created with the first one."""
        self.merged: list[str] = []
        model.register_forward_pre_hook(self._prepare_inputs, with_kwargs=True)

    # -- what architecture plugins use (AttachTarget) ---------------------------------------

    @property
    def backbone(self) -> nn.Module:
        return self.model.base_model

    def _candidates(self, path: str) -> list[str]:
        """``path`` as given, and rebased between the full model and its backbone: an adapter
        trained on ``BertForSequenceClassification`` names ``bert.encoder…``, one trained on
        ``BertModel`` names ``encoder…``; both fit either model."""
        prefix = getattr(self.model, "base_model_prefix", "")
        candidates = [path]
        if prefix and path.startswith(prefix + "."):
            candidates.append(path[len(prefix) + 1 :])
        elif prefix and self.backbone is not self.model:
            candidates.append(f"{prefix}.{path}")
        return candidates

    def resolve(self, path: str) -> str:
        """The full-model path of the module an adapter calls ``path``."""
        for candidate in self._candidates(path):
            try:
                self.model.get_submodule(candidate)
            except AttributeError:
                continue
            return candidate
        raise ModelMismatchError(
            f"the adapter targets module {path!r}, which this "
            f"{type(self.model).__name__} ({self.model.config.model_type}) does not have"
        )

    def module(self, path: str) -> nn.Module:
        found = self.model.get_submodule(self.resolve(path))
        return found.base if isinstance(found, AdapterSlot | HeadSlot) else found

    def layer_paths(self) -> list[str]:
        layers = self.family.points.layers
        prefix = "" if self.backbone is self.model else self.model.base_model_prefix + "."
        count = len(self.backbone.get_submodule(layers))
        return [f"{prefix}{layers}.{index}" for index in range(count)]

    def slot(self, path: str) -> AdapterSlot:
        full = self.resolve(path)
        if full not in self.slots:
            leaf = self.model.get_submodule(full)
            if list(leaf.children()) or not hasattr(leaf, "weight"):
                raise ModelMismatchError(
                    f"module {full!r} is a {type(leaf).__name__}, not a projection an adapter can wrap"
                )
            slot = AdapterSlot(leaf, self.setup)
            self.model.set_submodule(full, slot)
            self.slots[full] = slot
        return self.slots[full]

    def slots_of(self, name: str) -> list[AdapterSlot]:
        return [slot for slot in self.slots.values() if name in slot.adapters]

    def add_input_adapter(self, name: str, adapter: InputAdapter) -> None:
        self.input_adapters[name] = adapter

    def block(self, layer: int, position: str) -> blocks.BlockSlot:
        """The ``BlockSlot`` of sub-block ``position`` ("attention" or "ffn") of layer ``layer``
        (with its hooks installed on first use; see ``hubcli.engine.blocks``)."""
        if (layer, position) not in self.blocks:
            slots, hooked = blocks.install(self, layer)
            for where, slot in slots.items():
                self.blocks[(layer, where)] = slot
            self.block_hooked_paths.update(hooked)
        return self.blocks[(layer, position)]

    def _attach_adapterhub_head(self, adapter: LoadedAdapter) -> None:
        """Give ``adapter`` the prediction head saved beside it (``head_config.json``)."""
        if self.backbone is not self.model:
            raise ModelMismatchError(
                f"adapter {adapter.name!r} brings an AdapterHub head, which runs on a bare backbone "
                f"(AutoModel), not on a {type(self.model).__name__}"
            )
        if self.task_heads is None:
            pad = getattr(self.model.config, "pad_token_id", None)
            self.task_heads = TaskHeads(self.setup, self.family.sequence_pooling, pad)
            self.model.register_forward_hook(self.task_heads.hook, with_kwargs=True)
        like = self.module(self.family.points.word_embeddings).weight
        head = adapterhub_head(adapter, self.dims.hidden_size).to(like.device, like.dtype)
        self.task_heads.copies[adapter.name] = head

    def add_head(self, name: str, path: str, state: Mapping[str, torch.Tensor]) -> None:
        full = self.resolve(path)
        if full not in self.heads:
            head = HeadSlot(self.model.get_submodule(full), self.setup)
            self.model.set_submodule(full, head)
            self.heads[full] = head
        head = self.heads[full]
        replacement = copy.deepcopy(head.base)
        params = dict(replacement.named_parameters())
        for key, tensor in state.items():
            if key not in params:
                raise ModelMismatchError(
                    f"head tensor {full}.{key}: the model's {type(head.base).__name__} has no such "
                    f"parameter (it has {', '.join(params)})"
                )
            if tuple(tensor.shape[1:]) != tuple(params[key].shape[1:]):
                raise ModelMismatchError(
                    f"head tensor {full}.{key}: shape {tuple(tensor.shape)} does not fit the model's "
                    f"{tuple(params[key].shape)}"
                )
            owner, _, leaf = f"{key}".rpartition(".")
            target = replacement.get_submodule(owner) if owner else replacement
            like = params[key]
            setattr(target, leaf, nn.Parameter(tensor.to(like.device, like.dtype), requires_grad=False))
        head.copies[name] = replacement

    # -- attaching and activating ---------------------------------------------------------------

    def attach(self, adapter: LoadedAdapter) -> None:
        """Inject ``adapter`` under ``adapter.name`` (inactive until ``activate``)."""
        if adapter.name in self.architectures:
            raise HubcliError(f"an adapter named {adapter.name!r} is already attached")
        plugin = discovery.architecture(adapter.architecture)
        try:
            plugin.attach(self, adapter)  # isolated by discovery: a fault names the plugin
            if adapter.head_config is not None:
                self._attach_adapterhub_head(adapter)
        except BaseException:
            self._remove(adapter.name)
            raise
        self.architectures[adapter.name] = adapter.architecture

    def detach(self, name: str) -> None:
        """Remove adapter ``name`` (unmerge it first if merged)."""
        self._check_attached([name])
        if name in self.merged:
            raise HubcliError(f"adapter {name!r} is merged into the base weights: unmerge it first")
        self.setup.names = tuple(n for n in self.setup.names if n != name)
        self._remove(name)
        del self.architectures[name]

    def _remove(self, name: str) -> None:
        """Drop ``name``'s modules; a slot or head left empty gives its place back to the
        original module, so the model is exactly as before the adapter came."""
        for path, slot in list(self.slots.items()):
            if name in slot.adapters:
                del slot.adapters[name]
            if not len(slot.adapters) and path not in self.block_hooked_paths:
                self.model.set_submodule(path, slot.base)
                del self.slots[path]
        for path, head in list(self.heads.items()):
            if name in head.copies:
                del head.copies[name]
            if not len(head.copies):
                self.model.set_submodule(path, head.base)
                del self.heads[path]
        self.input_adapters.pop(name, None)
        for block in self.blocks.values():
            if name in block.adapters:
                del block.adapters[name]
        if self.task_heads is not None and name in self.task_heads.copies:
            del self.task_heads.copies[name]

    def _check_attached(self, names: Iterable[str]) -> None:
        missing = [name for name in names if name not in self.architectures]
        if missing:
            attached = ", ".join(self.architectures) or "none"
            raise HubcliError(f"not attached: {', '.join(missing)} (attached: {attached})")

    def activate(self, *names: str) -> None:
        """Run exactly ``names`` (stacked in this order); merged adapters must stay active."""
        self._check_attached(names)
        dropped = [name for name in self.merged if name not in names]
        if dropped:
            raise HubcliError(
                f"adapter {dropped[0]!r} is merged into the base weights: unmerge it before deactivating it"
            )
        self.setup.names = tuple(names)

    def deactivate(self) -> None:
        """Back to the base model (no adapter runs)."""
        self.activate()

    @property
    def active(self) -> tuple[str, ...]:
        return self.setup.names

    def merge(self, name: str) -> None:
        """Fold active adapter ``name`` into the base weights (LoRA, IA³)."""
        self._check_attached([name])
        if name not in self.setup.names:
            raise HubcliError(f"adapter {name!r} is not active: activate it before merging")
        discovery.architecture(self.architectures[name]).merge(self, name)
        self.merged.append(name)

    def unmerge(self, name: str) -> None:
        """Restore the base weights as they were before ``merge(name)``, bit for bit."""
        if name not in self.merged:
            raise HubcliError(f"adapter {name!r} is not merged")
        discovery.architecture(self.architectures[name]).unmerge(self, name)
        self.merged.remove(name)

    # -- running ------------------------------------------------------------------------------

    def _prepare_inputs(
        self, _module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        names = self.setup.active_in(self.input_adapters)
        if not names:
            return None
        if args:  # only input_ids is passed positionally in practice
            kwargs = {"input_ids": args[0], **kwargs}
        embed = self.backbone.get_submodule(self.family.points.word_embeddings)
        for name in names:
            kwargs = self.input_adapters[name].prepare(kwargs, embed)
        return (), kwargs

    def virtual_tokens(self) -> int:
        """Positions the active prompt adapters prepend to token-level outputs."""
        active = self.setup.active_in(self.input_adapters)
        return sum(self.input_adapters[name].virtual_tokens for name in active)

    @torch.inference_mode()
    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any
    ) -> Any:
        """Run the model; token-level outputs (``logits``, ``last_hidden_state``) keep only
        the positions of ``input_ids``."""
        device = next(self.model.parameters()).device
        input_ids = input_ids.to(device)
        if attention_mask is not None:
            attention_mask = attention_mask.to(device)
        output = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        virtual = self.virtual_tokens()
        if virtual:
            for key in ("logits", "last_hidden_state"):
                value = output.get(key)
                if value is not None and value.dim() == 3 and value.shape[1] == input_ids.shape[1] + virtual:
                    output[key] = value[:, virtual:]
        return output
