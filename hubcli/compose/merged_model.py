"""``--merge``: a stitched model folded into plain ``transformers`` weights.

Only where the maths is exact: a single adapter or a stack of adapters whose architecture can
merge (LoRA: W + Σ s·B·A; IA³: diagonal rescaling), on projections only. The result is the
stock model class with its stock module tree (slots unwrapped, the active head copy put in the
head's place), saved with ``save_pretrained``, so ``AutoModel.from_pretrained`` loads it without
hubcli.
"""

from __future__ import annotations

from pathlib import Path

from hubcli.compose.setup import CompositionSetup
from hubcli.engine import StitchedModel
from hubcli.plugin_api import SpecError


def save_merged(stitched: StitchedModel, folder: Path) -> Path:
    """Merge the active adapters of ``stitched`` and save the plain model into ``folder``.
    ``stitched`` is consumed: its modules are unwrapped in place."""
    setup = stitched.setup
    if isinstance(setup, CompositionSetup) and not setup.flat:
        raise SpecError("--merge: only a single adapter or a stack of adapters folds into the weights")
    names = list(stitched.active)
    blocks = [name for name in names if any(name in block.adapters for block in stitched.blocks.values())]
    inputs = [name for name in names if name in stitched.input_adapters]
    heads = [name for name in names if stitched.task_heads is not None and name in stitched.task_heads.copies]
    for problem, found in (
        ("works on sub-blocks (bottleneck)", blocks),
        ("works on the inputs", inputs),
        ("brings an AdapterHub head", heads),
    ):
        if found:
            raise SpecError(
                f"--merge: adapter {found[0]!r} {problem}; it cannot be folded into plain weights"
            )
    for name in names:
        if name not in stitched.merged:
            stitched.merge(name)
    for path, slot in stitched.slots.items():
        stitched.model.set_submodule(path, slot.base)
    for path, head in stitched.heads.items():
        active = setup.active_in(head.copies)
        stitched.model.set_submodule(path, head.copies[active[-1]] if active else head.base)
    folder.mkdir(parents=True, exist_ok=True)
    stitched.model.save_pretrained(folder)
    return folder
