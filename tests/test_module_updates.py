"""``ArchitecturePlugin.module_updates`` says what the engine runs, and ``write_updates`` writes
it back: the one description of an adapter's effect that ``hubcli compare`` and ``hubcli merge``
rely on (they no longer read tensor names or scaling rules themselves)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hubcli import discovery
from hubcli.engine import load, read_adapter
from hubcli.importer import import_adapter
from hubcli.plugin_api import AdapterFolder, LowRankUpdate, ScaleUpdate
from hubcli.testing.tolerance import assert_weights_close
from tests.helpers.tiny_models import peft_adapter

GOLDEN = Path(__file__).parent / "golden" / "adapterhub"
QKV = ("q", "k", "v")


def updates_of(registry, name):
    loaded = read_adapter(registry, name)
    return loaded, discovery.architecture(loaded.architecture).module_updates(loaded)


def assert_engine_runs(stitched, name, updates):
    """Every update equals what the engine attached: ΔW (per third of a fused projection) or
    the scaling vector and whether it scales the input."""
    for update in updates:
        delta = stitched.slot(update.module).adapters[name]
        if isinstance(update, LowRankUpdate):
            engine = delta.delta_weight().double()
            if update.part is not None:
                width = engine.shape[0] // 3
                third = QKV.index(update.part)
                engine = engine[third * width : (third + 1) * width]
            assert_weights_close(engine, update.dense().double(), width=update.rank, dtype=torch.float32)
        else:
            assert isinstance(update, ScaleUpdate)
            assert delta.feedforward == update.on_input
            torch.testing.assert_close(delta.scale.double(), update.vector.double())


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama"])
@pytest.mark.parametrize("method", ["lora", "rslora", "rank_pattern", "ia3"])
def test_peft_updates_are_what_the_engine_runs(registry, tmp_path, family, method):
    base, _ = peft_adapter(family, method, tmp_path / "a")
    import_adapter(registry, AdapterFolder(tmp_path / "a"), name="a")
    _, updates = updates_of(registry, "a")
    assert updates
    assert_engine_runs(load(base, ["a"], registry=registry), "a", updates)


@pytest.mark.parametrize(
    ("family", "case"),
    [("bert", "lora"), ("gpt2", "lora"), ("llama", "lora_full"), ("bert", "ia3"), ("llama", "ia3")],
)
def test_adapterhub_updates_are_what_the_engine_runs(registry, family, case):
    """Including GPT-2's fused c_attn LoRA, split into its q and v parts, and IA³ with alpha."""
    import_adapter(registry, AdapterFolder(GOLDEN / family / "adapters" / case), name="h")
    _, updates = updates_of(registry, "h")
    if family == "gpt2":
        assert {u.part for u in updates if u.module.endswith("c_attn")} == {"q", "v"}
    assert_engine_runs(load(GOLDEN / family / "base", ["h"], registry=registry), "h", updates)


@pytest.mark.parametrize(
    ("source", "name"), [("peft", "rank_pattern"), ("adapterhub", "lora"), ("peft", "ia3")]
)
def test_written_updates_read_back_the_same(registry, tmp_path, source, name):
    """write_updates then module_updates is the identity on the updates (scalings folded in)."""
    if source == "peft":
        peft_adapter("llama", name, tmp_path / "in")
        import_adapter(registry, AdapterFolder(tmp_path / "in"), name="in")
    else:
        import_adapter(registry, AdapterFolder(GOLDEN / "bert" / "adapters" / name), name="in")
    loaded, updates = updates_of(registry, "in")
    plugin = discovery.architecture(loaded.architecture)
    (tmp_path / "out").mkdir()
    plugin.write_updates(updates, tmp_path / "out", sources=[loaded], name="out")
    import_adapter(registry, AdapterFolder(tmp_path / "out"), name="out")
    _, again = updates_of(registry, "out")
    assert [u.module for u in again] == [u.module for u in updates]
    for before, after in zip(updates, again, strict=True):
        if isinstance(before, LowRankUpdate):
            torch.testing.assert_close(after.dense(), before.dense())
        else:
            assert after.on_input == before.on_input
            torch.testing.assert_close(after.vector, before.vector)
