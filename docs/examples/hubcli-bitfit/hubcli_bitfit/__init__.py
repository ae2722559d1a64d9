"""BitFit for hubcli: fine-tuning only the bias terms (Ben Zaken, Ravfogel & Goldberg, 2022).

An example third-party architecture plugin. It uses only hubcli's plugin contract
(``hubcli.plugin_api``, and on the model side ``hubcli.plugin_api.torch_modules``), and it keeps
torch out of this module: hubcli imports it to list, detect and validate adapters, which must
stay fast. The model side lives in ``hubcli_bitfit.runtime``, which ``runtime`` names.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hubcli.plugin_api import (
    AdapterFolder,
    AdapterFormatError,
    AdapterValidationError,
    ArchitecturePlugin,
    DetectedAdapter,
    LoadedAdapter,
    ModuleUpdate,
    ParameterUpdate,
    TensorInfo,
)
from pydantic import ValidationError

from hubcli_bitfit.config import (
    CONFIG_FILE,
    FORMAT,
    FORMAT_VERSION,
    METHOD,
    WEIGHTS_FILE,
    BitFitConfig,
    BitFitFile,
    module_of,
)

if TYPE_CHECKING:
    import torch

__all__ = ["BitFitArchitecture", "BitFitConfig", "average_bitfit", "save_bitfit"]

CARD_FILE = "README.md"


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    return f"field {field!r}: {first['msg']} (got {first.get('input')!r})"


class BitFitArchitecture(ArchitecturePlugin):
    name = METHOD
    description = "BitFit: bias-only fine-tuning (bias deltas on Linear / Conv1D projections)"
    api_version = 2
    formats = (FORMAT,)
    runtime = "hubcli_bitfit.runtime"
    """The model side (attach, merge, unmerge, untrained, write_updates): torch is imported
    there, when a model runs, never when hubcli lists, detects or validates adapters."""
    compositions = frozenset({"stack", "average", "batch_split"})
    """Bias deltas add to a projection's output, so stacking adds them and averaging outputs is
    averaging the deltas; ``batch_split`` routes rows and needs nothing from the method.
    ``split`` (sequence positions), ``parallel`` (one head per child) and ``fuse`` (trained
    fusion over bottleneck outputs) are refused by hubcli with a message naming both."""

    def detect(self, folder: AdapterFolder) -> DetectedAdapter | None:
        if not folder.exists(CONFIG_FILE):
            return None
        raw = folder.read_json(CONFIG_FILE)
        if raw.get("method") != METHOD:
            return None  # not ours: other plugins look at it
        where = folder.where(CONFIG_FILE)
        try:
            saved = BitFitFile.model_validate(raw)
        except ValidationError as exc:
            raise AdapterFormatError(f"{where}: {_first_problem(exc)}") from None
        if saved.format_version > FORMAT_VERSION:
            raise AdapterFormatError(
                f"{where}: format_version {saved.format_version} is newer than this hubcli-bitfit "
                f"reads ({FORMAT_VERSION}): upgrade hubcli-bitfit"
            )
        if not folder.exists(WEIGHTS_FILE):
            raise AdapterFormatError(f"{folder.where(WEIGHTS_FILE)}: missing (the bias deltas)")
        files = {CONFIG_FILE: "config", WEIGHTS_FILE: "weights"}
        if folder.exists(CARD_FILE):
            files[CARD_FILE] = "card"
        return DetectedAdapter(
            architecture=METHOD,
            format=FORMAT,
            config=BitFitConfig(targets=saved.targets, modules_to_save=saved.modules_to_save).model_dump(
                mode="json"
            ),
            files=files,
            base_model=saved.base_model,
            model_type=saved.model_type,
            task=saved.task_type,
        )

    def validate(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
        """Every tensor is a vector named ``<module>.bias`` for a targeted module, or a parameter
        of a module saved whole; there is at least one bias delta."""
        config = BitFitConfig.model_validate(adapter.config)
        deltas = [name for name in tensors if config.saved_module_of(name) is None]
        if not deltas:
            raise AdapterValidationError(f"{WEIGHTS_FILE}: no bias deltas (<module>.bias)")
        for name in deltas:
            info = tensors[name]
            module = module_of(name)
            if module is None:
                raise AdapterValidationError(
                    f"{WEIGHTS_FILE}: tensor {name!r} is not a bias delta (<module>.bias)"
                )
            if len(info.shape) != 1 or info.shape[0] == 0:
                raise AdapterValidationError(
                    f"{WEIGHTS_FILE}: tensor {name!r} has shape {list(info.shape)}; a bias delta is a "
                    "vector [out_features]"
                )
            if not config.targets_module(module):
                raise AdapterValidationError(
                    f"{WEIGHTS_FILE}: tensor {name!r} is for module {module!r}, which is not among the "
                    f"config's targets {config.targets}"
                )

    # -- weight-space view: hubcli merge (parameter averaging) and compare ------------------

    def module_updates(self, adapter: LoadedAdapter) -> list[ModuleUpdate]:
        """One ``ParameterUpdate`` per bias delta (``{"bias": δ}``); the head is a saved module."""
        config = BitFitConfig.model_validate(adapter.config)
        return [
            ParameterUpdate(module=module, tensors={"bias": tensor})
            for name, tensor in sorted(adapter.tensors.items())
            if config.saved_module_of(name) is None and (module := module_of(name)) is not None
        ]


def save_bitfit(
    folder: str | Path,
    deltas: Mapping[str, torch.Tensor],
    targets: list[str],
    *,
    head: Mapping[str, torch.Tensor] | None = None,
    modules_to_save: list[str] | None = None,
    base_model: str | None = None,
    model_type: str | None = None,
    task_type: str | None = None,
) -> None:
    """Write a BitFit adapter folder. ``deltas`` maps ``<module path>.bias`` to trained −
    original bias; ``head`` holds the parameters (``classifier.weight`` …) of the modules in
    ``modules_to_save``, saved whole."""
    from hubcli_bitfit.files import write_folder

    config = BitFitFile(
        method=METHOD,
        targets=list(targets),
        modules_to_save=list(modules_to_save or []),
        base_model=base_model,
        model_type=model_type,
        task_type=task_type,
    )
    write_folder(folder, config, deltas, head or {})


def average_bitfit(
    adapters: list[Mapping[str, torch.Tensor]], weights: list[float] | None = None
) -> dict[str, torch.Tensor]:
    """Parameter averaging: Σ wᵢ δᵢ per bias (a bias missing from an adapter counts as zero).

    The result runs exactly like ``average(a, b, weights=[…])`` at run time: at a projection
    that block mixes the children's changes, y + Σ wᵢ (yᵢ − y), and a bias delta's change is
    δᵢ itself, so averaging outputs and averaging parameters agree."""
    from hubcli_bitfit.files import weighted_sum

    return weighted_sum(adapters, weights)
