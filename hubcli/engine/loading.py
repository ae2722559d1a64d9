"""Reading what the engine needs: a base model (Hub id, local folder or an in-memory model) and
a registry adapter's config and tensors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hubcli.plugin_api import AdapterFormatError, HubcliError, LoadedAdapter
from registry import Registry

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

AUTO_CLASS_OF_TASK = {
    "SEQ_CLS": "AutoModelForSequenceClassification",
    "CAUSAL_LM": "AutoModelForCausalLM",
    "TOKEN_CLS": "AutoModelForTokenClassification",
    "QUESTION_ANS": "AutoModelForQuestionAnswering",
}
"""PEFT task types whose base model has a head; anything else loads the bare backbone."""


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No per-load weight bars or load reports from transformers while our own bar tells
    progress; transformers' settings are restored afterwards (commands also run in-process)."""
    from transformers.utils import logging

    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def torch_dtype(name: str) -> torch.dtype:
    try:
        return DTYPES[name]
    except KeyError:
        raise HubcliError(f"unknown dtype {name!r} (choose {', '.join(DTYPES)})") from None


def load_base_model(
    base: str | Path | nn.Module,
    *,
    task: str | None = None,
    dtype: str = "float32",
    device: str = "cpu",
) -> nn.Module:
    """The base model in eval mode on ``device`` in ``dtype``.

    A string is a Hub model id or a local model folder, loaded with the Auto class that fits
    ``task`` (a PEFT task type, e.g. SEQ_CLS) so that the adapter's head has a place to go.
    """
    if isinstance(base, nn.Module):
        model = base
    else:
        import transformers

        auto = getattr(transformers, AUTO_CLASS_OF_TASK.get(task or "", "AutoModel"))
        try:
            model = auto.from_pretrained(str(base), dtype=torch_dtype(dtype))
        except OSError as exc:
            raise HubcliError(f"cannot load base model {str(base)!r}: {str(exc).splitlines()[0]}") from None
    return model.to(device=device, dtype=torch_dtype(dtype)).eval()


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "tokenizer.model")


def load_tokenizer(base: str) -> Any:
    """The base model's tokenizer, for evaluating and training on text; decoders without a pad
    token pad with their end token."""
    from transformers import AutoTokenizer

    folder = Path(base)
    # transformers 5 builds an empty-vocabulary tokenizer from config.json alone: refuse that.
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise HubcliError(f"no tokenizer files in {base} (e.g. tokenizer.json): evaluation needs text input")
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
    except (OSError, ValueError) as exc:
        raise HubcliError(f"no tokenizer for {base!r}: {str(exc).splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _read_json(path: Path, label: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterFormatError(f"{label}: unreadable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise AdapterFormatError(f"{label}: not a JSON object")
    return data


def read_adapter(registry: Registry, name: str, attach_as: str | None = None) -> LoadedAdapter:
    """Adapter ``name`` from the registry: config, original config file and tensors (CPU)."""
    from safetensors.torch import load_file

    adapter = registry.get_adapter(name)
    tensors: dict[str, torch.Tensor] = {}
    head_tensors: dict[str, torch.Tensor] = {}
    raw_config: dict[str, Any] = {}
    head_config: dict[str, Any] | None = None
    for file in registry.files(adapter):
        path = registry.file_path(file)
        label = f"{name}/{file.path}"
        if file.role == "weights":
            tensors.update(load_file(path))
        elif file.role == "head_weights":
            head_tensors.update(load_file(path))
        elif file.role == "config":
            raw_config = _read_json(path, label)
        elif file.role == "head_config":
            head_config = _read_json(path, label)
    return LoadedAdapter(
        name=attach_as or adapter.name,
        architecture=adapter.architecture,
        format=adapter.format,
        config=dict(adapter.method_config),
        raw_config=raw_config,
        tensors=tensors,
        head_tensors=head_tensors,
        head_config=head_config,
    )
