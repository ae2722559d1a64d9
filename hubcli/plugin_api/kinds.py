"""The three plugin kinds: an adapter architecture, a composition block, a model family.

Rules for evolving them (learned from harlequin, llm and datasette): the abstract core stays
small; optional capabilities are concrete methods with safe defaults that raise
``CapabilityNotSupported``; an abstract method is never added to a published base class;
``PLUGIN_API_VERSION`` is bumped when the contract changes and plugins declare the version
they were written for.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from hubcli.plugin_api.adapters import DetectedAdapter, LoadedAdapter, UntrainedAdapter
from hubcli.plugin_api.errors import CapabilityNotSupported, SpecError
from hubcli.plugin_api.folders import AdapterFolder
from hubcli.plugin_api.model import AttachTarget, InsertionPoints, ModelDims
from hubcli.plugin_api.routing import Child, Routed
from hubcli.plugin_api.tensors import TensorInfo
from hubcli.plugin_api.updates import ModuleUpdate

if TYPE_CHECKING:
    import torch

PLUGIN_API_VERSION = 2
"""The contract version this hubcli offers. A plugin declares the version it was written for
in ``api_version``; one written for another version is refused at load with one line saying
what to change (a larger one: upgrade hubcli; 1: see docs/plugins.md, "From API 1 to 2")."""


class Plugin(ABC):
    """What every plugin kind shares: a name, a description and the API version it targets."""

    name: ClassVar[str]
    """The name users type (``--arch bitfit``, ``sum(a, b)``); the entry point's name must match."""
    description: ClassVar[str] = ""
    """One line for ``hubcli plugins``."""
    api_version: ClassVar[int]
    """The ``PLUGIN_API_VERSION`` the plugin was written for (required, e.g. ``api_version = 2``):
    a plugin that does not declare it, or declares another version than hubcli offers, is
    refused at load."""


MODEL_SIDE = ("attach", "merge", "unmerge", "untrained", "module_updates", "write_updates", "export")
"""The ``ArchitecturePlugin`` methods an architecture's ``runtime`` may implement."""

_runtimes: dict[str, Any] = {}
"""Runtime path → the imported module or object (each is imported once)."""


def _load_runtime(path: str) -> Any:
    """The module ``path`` names, or the object after its ``:`` in that module."""
    if path not in _runtimes:
        module_name, _, attribute = path.partition(":")
        found: Any = importlib.import_module(module_name)
        for part in filter(None, attribute.split(".")):
            found = getattr(found, part)
        _runtimes[path] = found
    return _runtimes[path]


class ArchitecturePlugin(Plugin):
    """An adapter method (LoRA, bottleneck, prefix tuning …).

    Import side (needed by ``hubcli add`` / ``pull``): ``detect`` and ``validate``. They read
    files only through ``AdapterFolder`` and tensor headers, never torch.
    """

    runtime: ClassVar[str | None] = None
    """Where the model side lives: a module (``"plugins.architectures.lora.runtime"``) or an
    object in one (``"package.module:object"``), imported once, on first use. Its callables named
    like the model-side methods (``MODEL_SIDE``: ``attach``, ``merge``, ``unmerge``,
    ``untrained``, ``module_updates``, ``write_updates``, ``export``) implement them, taking the
    method's arguments without ``self``; a method it does not define raises
    ``CapabilityNotSupported``. So the module hubcli imports to list and detect adapters stays
    free of torch, and a plugin writes no forwarding code."""

    formats: ClassVar[tuple[str, ...]] = ()
    """Formats this plugin reads, e.g. ("peft", "adapterhub")."""

    compositions: ClassVar[frozenset[str]] = frozenset()
    """Composition blocks this method may take part in (names of composition plugins)."""

    @abstractmethod
    def detect(self, folder: AdapterFolder) -> DetectedAdapter | None:
        """Recognise this method's files in ``folder``; None when they are not ours.

        Raise ``AdapterFormatError`` when the files are clearly ours but broken (e.g. a PEFT
        config of our type with a malformed field), so the user learns what is wrong.
        """

    @abstractmethod
    def validate(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
        """Check that the weight tensors agree with the config (names, shapes, ranks).

        ``tensors`` are those of the files with role ``weights`` (``fusion_weights`` for a
        fusion, which has no others). Raise
        ``AdapterValidationError`` naming the tensor and the expected shape.
        """

    def parameter_count(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> int:
        """Number of trained parameters (default: every tensor of the weight files)."""
        return sum(info.numel for info in tensors.values())

    def supports_composition(self, block: str) -> bool:
        return block in self.compositions

    # -- model side (optional capabilities; see docs/engine.md) ----------------------------

    def attach(self, target: AttachTarget, adapter: LoadedAdapter) -> None:
        """Inject ``adapter``'s modules into ``target``'s model under ``adapter.name``.

        Raise ``ModelMismatchError`` (one line, naming the tensor or module) when the weights do
        not fit the model. Without this method the architecture can be stored but not run.
        """
        self._runtime_callable("attach", "cannot be attached to a model")(target, adapter)

    def merge(self, target: AttachTarget, name: str) -> None:
        """Fold the attached adapter ``name`` into the base weights (exactly undoable)."""
        self._runtime_callable("merge", "cannot merge into base weights")(target, name)

    def unmerge(self, target: AttachTarget, name: str) -> None:
        """Undo ``merge``, restoring the original base weights bit for bit."""
        self._runtime_callable("unmerge", "cannot merge into base weights")(target, name)

    # -- training (optional capability; see docs/plugin-kit.md) ------------------------------

    def untrained(
        self, target: AttachTarget, options: Mapping[str, str], task_type: str | None, labels: Sequence[str]
    ) -> UntrainedAdapter:
        """A new adapter for ``target``'s model, before training: what a trainer starts from.

        ``options`` are the user's ``key=value`` settings (raise ``HubcliError`` naming an
        unknown one); ``task_type`` is the PEFT task type the base was loaded for (``SEQ_CLS``,
        ``CAUSAL_LM`` …; None: the bare backbone) and ``labels`` the label names of a
        classification task, for the size of a new head. Every tensor returned is trained: after
        ``attach`` each must live in exactly one parameter of the adapter's modules, which is
        how a trainer finds them without knowing the plugin (checked by
        ``hubcli.testing.check_architecture_plugin``).
        """
        implementation = self._runtime_callable("untrained", "cannot create a new adapter to train")
        adapter: UntrainedAdapter = implementation(target, options, task_type, labels)
        return adapter

    # -- weight-space view (optional capability; see docs/plugins.md) -----------------------

    def module_updates(self, adapter: LoadedAdapter) -> list[ModuleUpdate]:
        """What ``adapter`` changes in each module it adapts, in a format-neutral form.

        ``hubcli compare`` measures these and ``hubcli merge`` combines them, so neither needs
        to know a format's tensor names or the method's scaling rules: those stay here, in one
        place. Modules saved whole (PEFT ``modules_to_save``) are not updates and are left out.
        Raise ``CapabilityNotSupported`` (one line, naming the option) when the adapter's effect
        is none of the ``ModuleUpdate`` forms (e.g. DoRA, whose ΔW depends on the base weights).
        """
        implementation = self._runtime_callable("module_updates", "does not describe its per-module updates")
        updates: list[ModuleUpdate] = implementation(adapter)
        return updates

    def write_updates(
        self,
        updates: Sequence[ModuleUpdate],
        folder: Path,
        *,
        sources: Sequence[LoadedAdapter],
        name: str,
        saved: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        """Write an adapter whose per-module updates are ``updates`` into ``folder``: the
        reverse of ``module_updates``, which ``hubcli merge`` uses for its result.

        ``sources`` are the adapters the updates were made from: options that are not part of
        an update (dropout, Conv1D orientation, base model) come from them, and disagreement
        among them is refused with ``CapabilityNotSupported``. ``saved`` holds whole modules
        (PEFT ``modules_to_save``) under their names in the sources' weight files, written
        beside the updates. The plugin picks the format it can express every update in;
        ``export`` converts from there.
        """
        implementation = self._runtime_callable("write_updates", "cannot write adapters from updates")
        implementation(updates, folder, sources=sources, name=name, saved=saved)

    # -- export (optional capability; see docs/export.md) ------------------------------------

    export_formats: ClassVar[tuple[str, ...]] = ()
    """Formats ``export`` can write an adapter into when it is stored in another format.
    Writing the stored format needs no plugin: the stored files are copied as they are."""

    export_refusals: ClassVar[Mapping[str, str]] = {}
    """Format → why this method cannot be written in it at all (e.g. "PEFT has no bottleneck
    adapters"), said to the user instead of a bare refusal. Reasons that depend on one
    adapter's options are raised by ``export`` itself."""

    def export(
        self, adapter: LoadedAdapter, fmt: str, folder: Path, *, name: str, model_type: str | None = None
    ) -> None:
        """Write ``adapter`` (stored in ``adapter.format``) into ``folder`` in format ``fmt``,
        as the native library of ``fmt`` would have saved it under the adapter name ``name``.
        ``model_type`` is the base model's type when the adapter's own files do not say it
        (PEFT writes it only for bare backbones); formats that need it may refuse without.

        Convert only where both libraries compute the same function; otherwise raise
        ``CapabilityNotSupported`` with one line saying which option cannot be expressed and
        why. The caller re-detects the written folder with the installed plugins, so a wrong
        layout is caught before anyone else sees it.
        """
        implementation = self._runtime_callable(
            "export", f"cannot convert an adapter from {adapter.format} to {fmt}"
        )
        implementation(adapter, fmt, folder, name=name, model_type=model_type)

    # -- the runtime: where the model side lives -------------------------------------------

    def offers(self, capability: str) -> bool:
        """Whether the model-side method ``capability`` (one of ``MODEL_SIDE``) does something
        here: the class overrides it or its ``runtime`` defines it. Imports the runtime."""
        if capability not in MODEL_SIDE:
            raise ValueError(f"{capability!r} is not a model-side method (one of {', '.join(MODEL_SIDE)})")
        overridden = getattr(type(self), capability) is not getattr(ArchitecturePlugin, capability)
        return overridden or self._runtime_attribute(capability) is not None

    def _runtime_attribute(self, method: str) -> Callable[..., Any] | None:
        """The runtime's callable named ``method``, None when there is no runtime or it has none."""
        if self.runtime is None:
            return None
        found = getattr(_load_runtime(self.runtime), method, None)
        return found if callable(found) else None

    def _runtime_callable(self, method: str, refusal: str) -> Callable[..., Any]:
        """The runtime's ``method``, or ``CapabilityNotSupported`` saying what the architecture
        cannot do (``refusal``) when its runtime does not define it."""
        found = self._runtime_attribute(method)
        if found is None:
            raise CapabilityNotSupported(f"architecture {self.name!r} {refusal}")
        return found


class CompositionPlugin(Plugin):
    """A composition block (stack, split, parallel …): its arity, its arguments, which blocks it
    may hold, and how it routes hidden states through its children at one insertion point.

    Validation (``hubcli.compose.validate``) reads the class attributes and calls
    ``check_arguments`` before any model is loaded. At run time the tree-aware setup
    (``hubcli.compose.setup``) calls ``route`` at every insertion point (a wrapped projection or
    a sub-block) where at least one adapter below the block has a module. ``route`` sees the
    hidden state only through the ``Routed`` interface (``hubcli.plugin_api.routing``), which is
    why one implementation serves LoRA-like projections, bottleneck sub-blocks and task heads.
    """

    min_children: ClassVar[int] = 1
    """Fewer children are refused before any model loads."""
    max_children: ClassVar[int | None] = None
    """More children are refused (None: no limit)."""
    arguments: ClassVar[frozenset[str]] = frozenset()
    """Keyword arguments the block accepts in a spec (values: numbers or lists of numbers)."""
    nests: ClassVar[frozenset[str] | None] = None
    """Blocks allowed as direct children (None: any block)."""
    supported_like: ClassVar[str | None] = None
    """A block whose support this one shares: an architecture that declares that block in its
    ``compositions`` may take part in this one too. Architectures list the blocks they know by
    name, so a third-party block that needs of its children only what ``average`` needs
    (``Routed.mix``) declares ``"average"`` and LoRA, IA³ and bottleneck adapters can join it."""
    replicates_batch: ClassVar[bool] = False
    """True for ``parallel``: the model's inputs are repeated once per child before the first
    layer, and the block hands each child its own share of the batch."""

    def check_arguments(self, args: Mapping[str, Any], children: int) -> dict[str, Any]:
        """The arguments, checked and normalised (raise ``HubcliError`` naming the argument).

        Default: refuse any argument not in ``arguments``."""
        unknown = sorted(set(args) - self.arguments)
        if unknown:
            allowed = ", ".join(sorted(self.arguments)) or "none"
            raise SpecError(f"{self.name}: unknown argument {unknown[0]!r} (allowed: {allowed})")
        return dict(args)

    def build(self, children: Sequence[str], args: Mapping[str, Any], target: AttachTarget) -> Any:
        """Modules the block owns (e.g. fusion attention), created when the composition is
        activated on ``target``; handed back to ``route`` as ``owned``. Default: none."""
        return None

    def save_owned(self, owned: Any, folder: Path) -> None:
        """Write what ``build`` made (trained fusion layers …) into ``folder``, for stitched
        bundles; called only for blocks whose ``build`` returned something."""
        raise CapabilityNotSupported(f"block {self.name!r} has no trained state to save")

    def load_owned(self, owned: Any, folder: Path) -> None:
        """Read what ``save_owned`` (or the block's original library) wrote into ``owned``."""
        raise CapabilityNotSupported(f"block {self.name!r} has no trained state to load")

    def add_head(self, owned: Any, config: Mapping[str, Any]) -> None:
        """Give what ``build`` made a new task head of its own, trained with it; ``config`` is an
        AdapterHub head config (``num_labels``, ``layers``, ``activation_function`` …)."""
        raise CapabilityNotSupported(f"block {self.name!r} has no head of its own")

    def train_owned(
        self,
        owned: Any,
        model: torch.nn.Module,
        batches: Iterable[Mapping[str, torch.Tensor]],
        loss: Callable[[Any, Mapping[str, torch.Tensor]], torch.Tensor],
        *,
        learning_rate: float,
        epochs: int = 1,
        on_step: Callable[[float], None] | None = None,
    ) -> list[float]:
        """Train what ``build`` made (``model``, on which the composition is active, stays
        frozen otherwise) on ``batches`` (keyword inputs of the model), minimising
        ``loss(output, batch)``; the loss of every step, also handed to ``on_step``."""
        raise CapabilityNotSupported(f"block {self.name!r} has nothing to train")

    @abstractmethod
    def route(self, state: Routed, children: Sequence[Child], args: Mapping[str, Any], owned: Any) -> Routed:
        """The state after this block: call each child (``child(state)``) on the part of the
        state it should see and combine what they return."""


class ModelFamilyPlugin(Plugin):
    """A family of ``transformers`` models and where its insertion points are."""

    model_types: ClassVar[tuple[str, ...]] = ()
    """The ``config.model_type`` values of the models this family covers."""
    points: ClassVar[InsertionPoints]
    """Where adapters go in these models."""
    layer_norm: ClassVar[str] = "post"
    """"post" (BERT: LayerNorm after the residual add) or "pre" (GPT-2, Llama)."""
    conv1d_projections: ClassVar[bool] = False
    """Projections are ``transformers`` ``Conv1D`` (weight stored [in, out], PEFT's
    ``fan_in_fan_out``) rather than ``nn.Linear``."""
    sequence_pooling: ClassVar[str] = "first"
    """Which token a sequence-level head reads: "first" (encoders' [CLS]) or "last" (decoders:
    the last non-padding token)."""

    def dims(self, config: Any) -> ModelDims:
        """Sizes from a ``transformers`` config; its ``attribute_map`` gives every family the
        standard names, so one default fits all built-in families."""
        heads = config.num_attention_heads
        hidden = config.hidden_size
        return ModelDims(
            hidden_size=hidden,
            num_layers=config.num_hidden_layers,
            num_heads=heads,
            num_kv_heads=getattr(config, "num_key_value_heads", None) or heads,
            head_dim=getattr(config, "head_dim", None) or hidden // heads,
            vocab_size=config.vocab_size,
        )
