"""What every reader of adapter files needs, whatever the format: the file names, one way of
turning a config into a pydantic model with one-line errors, and a checker that names the file,
the tensor and both shapes when a tensor disagrees with its config.

A plugin that reads its files through these helpers reports broken files the way the built-in
ones do (``AdapterFormatError`` / ``AdapterValidationError`` naming the file and the key as it
is spelled there). Import side only: no torch, tensors are seen through their headers
(``TensorInfo``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hubcli.plugin_api import (
    AdapterFolder,
    AdapterFormatError,
    AdapterValidationError,
    DetectedAdapter,
    TensorInfo,
)

CONFIG_FILE = "adapter_config.json"
"""The config file of PEFT and AdapterHub adapters alike."""
CARD_FILE = "README.md"
WHERE_KEY = "weights_where"
"""``DetectedAdapter.extra`` key: how to name the weights file in validation errors (the
folder is no longer known when ``validate`` runs)."""

Model = TypeVar("Model", bound=BaseModel)
_LAYER = re.compile(r"(?:^|\.)(\d+)\.")


def read_adapter_config(folder: AdapterFolder) -> dict[str, Any] | None:
    """The JSON object of ``adapter_config.json``, or None when the folder has none."""
    return folder.read_json(CONFIG_FILE) if folder.exists(CONFIG_FILE) else None


def parse(model: type[Model], data: Any, where: str, field_prefix: str = "") -> Model:
    """Validate ``data`` with ``model``; the first problem becomes a one-line format error
    naming the file and the key as it is spelled in the file (``field_prefix`` + key)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = field_prefix + ".".join(str(part) for part in first["loc"])
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise AdapterFormatError(
            f"{where}: field {field!r}: {first['msg']} (got {first.get('input')!r}){more}"
        ) from None


def known_keys(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` that ``model`` has fields for: lets a canonical config that forbids
    unknown keys read a file whose unknown keys we deliberately skip."""
    return {key: value for key, value in data.items() if key in model.model_fields}


def unsupported(where: str, what: str, hint: str = "") -> AdapterFormatError:
    """The error for a feature we recognise but cannot reproduce yet: refuse, never mis-read."""
    return AdapterFormatError(f"{where}: {what} is not supported yet" + (f" ({hint})" if hint else ""))


def first_present(folder: AdapterFolder, names: tuple[str, ...]) -> str | None:
    """The first of ``names`` (in order of preference) that exists in ``folder``."""
    return next((name for name in names if folder.exists(name)), None)


def adapter_files(
    folder: AdapterFolder, weight_files: tuple[str, ...], *, reported: str
) -> tuple[dict[str, str], str]:
    """The files of an adapter folder by role (``adapter_config.json``, the first of
    ``weight_files`` present, the card when there is one) and that weights file. Without
    weights the error names the file ``reported`` (the one the library's users look for)."""
    weights = first_present(folder, weight_files)
    if weights is None:
        others = " or ".join(name for name in weight_files if name != reported)
        raise AdapterFormatError(
            f"{folder.where(reported)}: missing (no {others} either): the adapter has no weights"
        )
    files = {CONFIG_FILE: "config", weights: "weights"}
    if folder.exists(CARD_FILE):
        files[CARD_FILE] = "card"
    return files, weights


def weights_where(adapter: DetectedAdapter) -> str:
    """How validation errors name the weights file (the folder is not known at that point)."""
    where: str | None = adapter.extra.get(WHERE_KEY)
    return where or ", ".join(adapter.files_with_role("weights"))


def layer_index(tensor: str) -> int | None:
    """The first numeric path component of a tensor name: the transformer layer it lives in."""
    found = _LAYER.search(tensor)
    return int(found.group(1)) if found else None


class Checker:
    """Builds validation errors that name the weights file, the tensor, its shape and the
    expected shape, so that a user can see at once what disagrees with the config."""

    def __init__(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
        self.where = weights_where(adapter)
        self.tensors = tensors

    def fail(self, message: str) -> AdapterValidationError:
        return AdapterValidationError(f"{self.where}: {message}")

    def shape(self, tensor: str, expected: tuple[int | None, ...], why: str) -> None:
        """Require ``tensor`` to have ``expected`` (None: any size in that dimension)."""
        actual = self.tensors[tensor].shape
        if len(actual) != len(expected) or any(
            want is not None and got != want for got, want in zip(actual, expected, strict=True)
        ):
            shown = "[" + ", ".join("*" if d is None else str(d) for d in expected) + "]"
            raise self.fail(f"tensor {tensor!r} has shape {list(actual)}, expected {shown} ({why})")

    def unexpected(self, tensor: str, why: str) -> AdapterValidationError:
        return self.fail(
            f"unexpected tensor {tensor!r} with shape {list(self.tensors[tensor].shape)} ({why})"
        )

    def require_some(self, names: list[str], what: str) -> None:
        """At least one tensor must follow the method's naming, else it is not this method."""
        if not names:
            sample = ", ".join(sorted(self.tensors)[:3])
            raise self.fail(f"no {what} tensors found (tensors: {sample or 'none'})")
