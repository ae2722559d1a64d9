"""Fresh, untrained adapters of each built-in architecture, as the files that architecture reads
(a plugin architecture brings its own through ``ArchitecturePlugin.untrained``).

A new adapter is born as a folder in the format its plugin already understands (PEFT for LoRA,
IA³, prefix and prompt tuning; AdapterHub for bottleneck adapters, which PEFT lacks), so that
training, saving and registering go through exactly the code paths every imported adapter
takes: ``detect`` → ``validate`` → ``attach``. The tensors carry the usual initialisations
(LoRA's B zero, IA³ vectors one, bottleneck and heads N(0, 0.02), prompts from word embeddings).

Options (``hubcli train --config key=value``): LoRA ``r``, ``alpha``, ``targets`` (comma list of
q, k, v, o, ffn_in, ffn_out); IA³ ``targets``; bottleneck ``variant`` (seq_bn, double_seq_bn,
par_bn), ``reduction_factor``, ``non_linearity``; prefix and prompt tuning ``tokens``.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hubcli.evaluate.tasks import PEFT_TASK
from hubcli.plugin_api import HubcliError

STD = 0.02
BOTTLENECK_VARIANTS: dict[str, dict[str, Any]] = {
    "seq_bn": {
        "mh_adapter": False,
        "output_adapter": True,
        "original_ln_before": True,
        "non_linearity": "relu",
        "reduction_factor": 16,
        "is_parallel": False,
        "scaling": 1.0,
        "residual_before_ln": True,
    },
    "double_seq_bn": {
        "mh_adapter": True,
        "output_adapter": True,
        "original_ln_before": False,
        "non_linearity": "swish",
        "reduction_factor": 16,
        "is_parallel": False,
        "scaling": 1.0,
        "residual_before_ln": True,
    },
    "par_bn": {
        "mh_adapter": False,
        "output_adapter": True,
        "original_ln_before": False,
        "non_linearity": "relu",
        "reduction_factor": 2,
        "is_parallel": True,
        "scaling": 4.0,
        "residual_before_ln": True,
    },
}
"""The ``adapters`` presets (``seq_bn`` = Pfeiffer, ``double_seq_bn`` = Houlsby, ``par_bn`` = He et al.)."""
BOTTLENECK_COMMON = {
    "adapter_residual_before_ln": False,
    "cross_adapter": False,
    "dropout": 0.0,
    "init_weights": "bert",
    "leave_out": [],
    "ln_after": False,
    "ln_before": False,
    "original_ln_after": True,
    "phm_layer": False,
    "use_gating": False,
}


class TrainOptionError(HubcliError):
    title = "Invalid training option"


@dataclass
class Blueprint:
    """An untrained adapter: its config file(s) and initial tensors, by file."""

    architecture: str
    format: str
    config: dict[str, Any]
    weights_file: str
    tensors: dict[str, torch.Tensor]
    head_config: dict[str, Any] | None = None
    head_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    peft_task: str | None = None
    """The PEFT task type: which Auto class the base needs (None: the bare backbone)."""

    def write(self, folder: Path) -> Path:
        """Save in the architecture's own layout (safetensors, JSON)."""
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        (folder / "adapter_config.json").write_text(json.dumps(self.config, indent=2))
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in self.tensors.items()},
            str(folder / self.weights_file),
        )
        if self.head_config is not None:
            (folder / "head_config.json").write_text(json.dumps(self.head_config, indent=2))
            save_file(
                {k: v.detach().contiguous().cpu() for k, v in self.head_tensors.items()},
                str(folder / "model_head.safetensors"),
            )
        return folder

    def all_tensors(self) -> dict[str, torch.Tensor]:
        return {**self.tensors, **self.head_tensors}


@dataclass(frozen=True)
class Shape:
    """What a blueprint needs to know about the base model."""

    family: str
    model_type: str
    prefix: str
    """``base_model_prefix`` (``bert``): AdapterHub keys start with it."""
    layers: str
    """The layer list's path inside the backbone (``encoder.layer``)."""
    layer_paths: list[str]
    """Full-model paths of the layers."""
    num_layers: int
    hidden: int
    num_heads: int
    kv_width: int
    points: Any
    projections: dict[str, tuple[int, int]]
    """Full-model path of every projection → (in, out)."""
    head: str | None
    """The task head's module name in the task model (``classifier`` / ``score``)."""
    word_embeddings: torch.Tensor


def _options(
    given: Mapping[str, str], allowed: Mapping[str, Callable[[str], Any]], architecture: str
) -> dict[str, Any]:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise TrainOptionError(
            f"{architecture}: unknown option {unknown[0]!r} (allowed: {', '.join(sorted(allowed)) or 'none'})"
        )
    try:
        return {key: allowed[key](value) for key, value in given.items()}
    except ValueError as exc:
        raise TrainOptionError(f"{architecture}: {exc}") from None


def _targets(shape: Shape, names: str) -> list[str]:
    """Full-model projection paths for the point names (q, k, v, o, ffn_in, ffn_out), every layer."""
    points = shape.points
    relative: list[str] = []
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        if name in ("q", "k", "v"):
            found = getattr(points, name) or points.qkv
        elif name == "o":
            found = points.o
        elif name == "ffn_in":
            relative.extend(points.ffn_in)
            continue
        elif name == "ffn_out":
            found = points.ffn_out
        else:
            raise TrainOptionError(f"unknown target {name!r} (use q, k, v, o, ffn_in, ffn_out)")
        relative.append(found)
    paths = [
        f"{layer}.{r}"
        for layer in shape.layer_paths
        for r in dict.fromkeys(relative)
        if f"{layer}.{r}" in shape.projections
    ]
    if not paths:
        raise TrainOptionError(f"targets {names!r} match no projection of this {shape.model_type} model")
    return paths


def _normal(*size: int) -> torch.Tensor:
    return torch.randn(*size) * STD


def _peft_head(shape: Shape, task: str, labels: list[str]) -> tuple[list[str], dict[str, torch.Tensor]]:
    """PEFT's ``modules_to_save`` classifier for tasks with a head."""
    if PEFT_TASK[task] == "CAUSAL_LM":
        return [], {}
    if shape.head is None:
        raise TrainOptionError(f"this {shape.model_type} model has no task head for {task}")
    outputs = 1 if task == "regression" else len(labels)
    key = f"base_model.model.{shape.head}"
    return [shape.head], {
        f"{key}.weight": _normal(outputs, shape.hidden),
        f"{key}.bias": torch.zeros(outputs),
    }


def _peft_config(peft_type: str, task: str, base: str, **keys: Any) -> dict[str, Any]:
    return {
        "peft_type": peft_type,
        "task_type": PEFT_TASK[task],
        "base_model_name_or_path": base,
        "inference_mode": True,
        **keys,
    }


def lora(shape: Shape, task: str, labels: list[str], base: str, given: Mapping[str, str]) -> Blueprint:
    options = {
        "r": 8,
        "alpha": 16.0,
        "targets": "q,v",
        **_options(given, {"r": int, "alpha": float, "targets": str}, "lora"),
    }
    rank = options["r"]
    tensors: dict[str, torch.Tensor] = {}
    paths = _targets(shape, options["targets"])
    for path in paths:
        fan_in, fan_out = shape.projections[path]
        bound = 1 / math.sqrt(fan_in)
        tensors[f"base_model.model.{path}.lora_A.weight"] = torch.empty(rank, fan_in).uniform_(-bound, bound)
        tensors[f"base_model.model.{path}.lora_B.weight"] = torch.zeros(fan_out, rank)
    saved, head = _peft_head(shape, task, labels)
    config = _peft_config(
        "LORA",
        task,
        base,
        r=rank,
        lora_alpha=options["alpha"],
        target_modules=paths,
        modules_to_save=saved or None,
        bias="none",
        lora_dropout=0.0,
        fan_in_fan_out=shape.family == "gpt2",
    )
    return Blueprint(
        "lora", "peft", config, "adapter_model.safetensors", {**tensors, **head}, peft_task=PEFT_TASK[task]
    )


def ia3(shape: Shape, task: str, labels: list[str], base: str, given: Mapping[str, str]) -> Blueprint:
    options = {"targets": "k,v,ffn_out", **_options(given, {"targets": str}, "ia3")}
    paths = _targets(shape, options["targets"])
    feedforward = [p for p in paths if p.endswith("." + shape.points.ffn_out)]
    tensors = {}
    for path in paths:
        fan_in, fan_out = shape.projections[path]
        size = (1, fan_in) if path in feedforward else (fan_out, 1)
        tensors[f"base_model.model.{path}.ia3_l"] = torch.ones(size)
    saved, head = _peft_head(shape, task, labels)
    config = _peft_config(
        "IA3",
        task,
        base,
        target_modules=paths,
        feedforward_modules=feedforward,
        modules_to_save=saved or None,
        fan_in_fan_out=shape.family == "gpt2",
    )
    return Blueprint(
        "ia3", "peft", config, "adapter_model.safetensors", {**tensors, **head}, peft_task=PEFT_TASK[task]
    )


def prefix_tuning(
    shape: Shape, task: str, labels: list[str], base: str, given: Mapping[str, str]
) -> Blueprint:
    options = {"tokens": 10, **_options(given, {"tokens": int}, "prefix_tuning")}
    tokens = options["tokens"]
    table = _normal(tokens, shape.num_layers * 2 * shape.kv_width)
    saved, head = _peft_head(shape, task, labels)
    config = _peft_config(
        "PREFIX_TUNING",
        task,
        base,
        num_virtual_tokens=tokens,
        num_layers=shape.num_layers,
        token_dim=shape.kv_width,
        num_attention_heads=shape.num_heads,
        num_transformer_submodules=1,
        prefix_projection=False,
        modules_to_save=saved or None,
    )
    return Blueprint(
        "prefix_tuning",
        "peft",
        config,
        "adapter_model.safetensors",
        {"prompt_embeddings": table, **head},
        peft_task=PEFT_TASK[task],
    )


def prompt_tuning(
    shape: Shape, task: str, labels: list[str], base: str, given: Mapping[str, str]
) -> Blueprint:
    options = {"tokens": 10, **_options(given, {"tokens": int}, "prompt_tuning")}
    tokens = options["tokens"]
    rows = torch.randint(0, shape.word_embeddings.shape[0], (tokens,))
    table = shape.word_embeddings[rows].detach().clone().float()
    saved, head = _peft_head(shape, task, labels)
    config = _peft_config(
        "PROMPT_TUNING",
        task,
        base,
        num_virtual_tokens=tokens,
        token_dim=shape.hidden,
        num_transformer_submodules=1,
        prompt_tuning_init="RANDOM",
        modules_to_save=saved or None,
    )
    return Blueprint(
        "prompt_tuning",
        "peft",
        config,
        "adapter_model.safetensors",
        {"prompt_embeddings": table, **head},
        peft_task=PEFT_TASK[task],
    )


def bottleneck(
    shape: Shape, task: str, labels: list[str], base: str, given: Mapping[str, str], name: str
) -> Blueprint:
    """An AdapterHub bottleneck adapter with an AdapterHub classification head (the engine runs
    such heads for classification tasks only)."""
    options = {
        "variant": "seq_bn",
        **_options(given, {"variant": str, "reduction_factor": float, "non_linearity": str}, "bottleneck"),
    }
    if options["variant"] not in BOTTLENECK_VARIANTS:
        raise TrainOptionError(
            f"bottleneck: unknown variant {options['variant']!r} (use {', '.join(BOTTLENECK_VARIANTS)})"
        )
    if task not in ("classification", "pair-classification"):
        raise TrainOptionError(
            f"bottleneck adapters train with an AdapterHub classification head: not for {task}"
        )
    method = {**BOTTLENECK_COMMON, **BOTTLENECK_VARIANTS[options.pop("variant")], **options}
    down = max(1, int(shape.hidden // method["reduction_factor"]))
    encoder = shape.family in ("bert", "roberta", "distilbert")
    places = (["attention.output" if encoder else "attention_adapters"] if method["mh_adapter"] else []) + (
        ["output" if encoder else "output_adapters"] if method["output_adapter"] else []
    )
    tensors: dict[str, torch.Tensor] = {}
    for layer in range(shape.num_layers):
        for place in places:
            key = f"{shape.prefix}.{shape.layers}.{layer}.{place}.adapters.{name}"
            tensors[f"{key}.adapter_down.0.weight"] = _normal(down, shape.hidden)
            tensors[f"{key}.adapter_down.0.bias"] = torch.zeros(down)
            tensors[f"{key}.adapter_up.weight"] = _normal(shape.hidden, down)
            tensors[f"{key}.adapter_up.bias"] = torch.zeros(shape.hidden)
    envelope = {
        "config": method,
        "hidden_size": shape.hidden,
        "model_class": "AdapterModel",
        "model_name": base,
        "model_type": shape.model_type,
        "name": name,
        "version": "adapters.1.3.0",
    }
    head_config = {
        "config": {
            "head_type": "classification",
            "num_labels": len(labels),
            "layers": 2,
            "activation_function": "tanh",
            "label2id": {label: i for i, label in enumerate(labels)},
            "use_pooler": False,
            "bias": True,
            "dropout_prob": None,
        },
        "hidden_size": shape.hidden,
        "model_class": "AdapterModel",
        "model_name": base,
        "model_type": shape.model_type,
        "name": name,
        "version": "adapters.1.3.0",
    }
    head = {
        f"heads.{name}.1.weight": _normal(shape.hidden, shape.hidden),
        f"heads.{name}.1.bias": torch.zeros(shape.hidden),
        f"heads.{name}.4.weight": _normal(len(labels), shape.hidden),
        f"heads.{name}.4.bias": torch.zeros(len(labels)),
    }
    return Blueprint(
        "bottleneck", "adapterhub", envelope, "adapter.safetensors", tensors, head_config, head, None
    )


PEFT_BUILDERS = {"lora": lora, "ia3": ia3, "prefix_tuning": prefix_tuning, "prompt_tuning": prompt_tuning}
ARCHITECTURES = (*PEFT_BUILDERS, "bottleneck")


def needs_task_model(architecture: str) -> bool:
    """PEFT-format adapters run on the task model (its head swapped per adapter), and so do
    plugin architectures (their ``untrained`` is told the task type); AdapterHub bottlenecks
    bring their head and run on the bare backbone."""
    return architecture != "bottleneck"


def shape_of(stitched: Any) -> Shape:
    """What the blueprints need from a ``StitchedModel``."""
    model = stitched.model
    points = stitched.family.points
    dims = stitched.dims
    projections = {}
    for path, module in model.named_modules():
        kind = type(module).__name__
        if kind == "Linear" and path.rsplit(".", 1)[-1] not in points.heads or kind == "Conv1D":
            weight = module.weight
            projections[path] = (
                (weight.shape[0], weight.shape[1]) if kind == "Conv1D" else (weight.shape[1], weight.shape[0])
            )
    head = next((h for h in points.heads if isinstance(getattr(model, h, None), nn.Module)), None)
    return Shape(
        family=stitched.family.name,
        model_type=model.config.model_type,
        prefix=model.base_model_prefix,
        layers=points.layers,
        layer_paths=stitched.layer_paths(),
        num_layers=dims.num_layers,
        hidden=dims.hidden_size,
        num_heads=dims.num_heads,
        kv_width=dims.num_kv_heads * dims.head_dim,
        points=points,
        projections=projections,
        head=head,
        word_embeddings=stitched.module(points.word_embeddings).weight,
    )


def blueprint(
    architecture: str,
    stitched: Any,
    task: str,
    labels: list[str],
    base: str,
    options: Mapping[str, str],
    name: str,
) -> Blueprint:
    shape = shape_of(stitched)
    if architecture == "bottleneck":
        return bottleneck(shape, task, labels, base, options, name)
    if architecture not in PEFT_BUILDERS:
        return plugin_blueprint(architecture, stitched, task, labels, options)
    return PEFT_BUILDERS[architecture](shape, task, labels, base, options)


def plugin_blueprint(
    architecture: str, stitched: Any, task: str, labels: list[str], options: Mapping[str, str]
) -> Blueprint:
    """A third-party architecture's new adapter, from its plugin (``ArchitecturePlugin.untrained``,
    docs/plugin-kit.md): the plugin writes its own format, and training finds its tensors by
    probe values like any other. A plugin without the capability says so in one line."""
    from hubcli import discovery

    if architecture not in discovery.manager.names("architecture"):
        raise TrainOptionError(
            f"cannot train architecture {architecture!r} (choose {', '.join(ARCHITECTURES)})"
        )
    plugin = discovery.architecture(architecture)
    fresh = plugin.untrained(stitched, options, PEFT_TASK[task], labels)
    fmt = plugin.formats[0] if plugin.formats else ""
    return Blueprint(
        architecture, fmt, fresh.config, fresh.weights_file, fresh.tensors, peft_task=PEFT_TASK[task]
    )


def probe_copy(blueprint: Blueprint, generator: torch.Generator) -> Blueprint:
    """The same blueprint with random values that no two tensors share: attached instead of the
    real initial values, it lets ``hubcli.train.parameters`` find each tensor again among the
    parameters the engine built, whatever the engine copied or reshaped."""
    probe = copy.copy(blueprint)
    probe.tensors = {k: torch.rand(v.shape, generator=generator) for k, v in blueprint.tensors.items()}
    probe.head_tensors = {
        k: torch.rand(v.shape, generator=generator) for k, v in blueprint.head_tensors.items()
    }
    return probe
