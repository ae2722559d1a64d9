"""AdapterFusion: our saved files reload exactly, training moves only the fusion parameters,
static fusion has no value matrix. (Equality with ``adapters``' trained fusion is in
tests/test_compose_goldens.py.)"""

from __future__ import annotations

from pathlib import Path

import torch

from hubcli.compose.setup import activate
from hubcli.engine import StitchedModel, read_adapter
from hubcli.importer import import_adapter
from hubcli.plugin_api import AdapterFolder
from plugins.compositions.fuse.files import load_fusion, save_fusion
from plugins.compositions.fuse.layer import FusionLayers
from plugins.compositions.fuse.training import train_fusion

GOLDEN = Path(__file__).parent / "golden" / "adapterhub" / "bert"
FUSED = ("seq_bn", "seq_bn_2", "seq_bn_3")
SPEC = f"fuse({', '.join(FUSED)})"


def fused_bert(registry, imported: bool = False) -> StitchedModel:
    from transformers import AutoModel

    stitched = StitchedModel(AutoModel.from_pretrained(GOLDEN / "base", attn_implementation="eager").eval())
    for name in FUSED:
        if not imported:
            import_adapter(registry, AdapterFolder(GOLDEN / "adapters" / name), name=name)
        stitched.attach(read_adapter(registry, name))
    return stitched


def inputs() -> dict[str, torch.Tensor]:
    return {
        "input_ids": torch.tensor([[5, 9, 14, 3, 77, 41, 8], [12, 6, 90, 31, 4, 18, 1]]),
        "attention_mask": torch.tensor([[1] * 7, [1] * 6 + [0]]),
    }


def hidden(stitched: StitchedModel) -> torch.Tensor:
    with torch.inference_mode():
        return stitched.model(**inputs()).last_hidden_state


def test_saved_fusion_reloads_exactly(registry, tmp_path):
    stitched = fused_bert(registry)
    setup = activate(stitched, SPEC)
    load_fusion(setup, GOLDEN / "adapters" / "fusion")
    trained = hidden(stitched)
    save_fusion(setup, tmp_path / "fusion")
    assert sorted(p.name for p in (tmp_path / "fusion").iterdir()) == ["fusion.json", "fusion.safetensors"]

    again = fused_bert(registry, imported=True)
    fresh = activate(again, SPEC)
    assert not torch.allclose(hidden(again), trained, atol=1e-3)
    load_fusion(fresh, tmp_path / "fusion")
    assert torch.equal(hidden(again), trained)


def test_training_moves_only_the_fusion_parameters(registry):
    stitched = fused_bert(registry)
    setup = activate(stitched, SPEC)
    frozen = {k: v.clone() for k, v in stitched.model.state_dict().items()}
    fusion = [o for o in setup.owned.values() if isinstance(o, FusionLayers)][0]
    before = {k: v.clone() for k, v in fusion.state_dict().items()}
    target = torch.randn(2, 7, 32, generator=torch.Generator().manual_seed(0))
    batches = [inputs()] * 8
    losses = train_fusion(
        stitched.model,
        setup,
        batches,
        lambda output, _batch: (output.last_hidden_state - target).pow(2).mean(),
        learning_rate=1e-2,
        epochs=2,
    )
    assert len(losses) == 16 and losses[-1] < losses[0]
    after = stitched.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in frozen.items())
    assert any(not torch.equal(v, fusion.state_dict()[k]) for k, v in before.items())
    assert not stitched.model.training


def test_static_fusion_has_no_value_matrix(registry):
    stitched = fused_bert(registry)
    setup = activate(stitched, f"fuse({', '.join(FUSED)}, static=1)")
    fusion = [o for o in setup.owned.values() if isinstance(o, FusionLayers)][0]
    names = {name.rsplit(".", 2)[-2] for name, _ in fusion.named_parameters()}
    assert names == {"query", "key"}
    assert set(fusion.layers) == {"0_ffn", "1_ffn"}
    assert torch.isfinite(hidden(stitched)).all()


def test_fusion_of_adapters_with_heads_runs_none_of_their_heads(registry):
    """``adapters`` looks for a head named after the fusion; the children's heads stay out."""
    stitched = fused_bert(registry)
    import_adapter(registry, AdapterFolder(GOLDEN / "adapters" / "seq_bn_head"), name="seq_bn_head")
    stitched.attach(read_adapter(registry, "seq_bn_head"))
    activate(stitched, "fuse(seq_bn, seq_bn_head)")
    with torch.inference_mode():
        output = stitched.model(**inputs())
    assert getattr(output, "logits", None) is None
    assert output.last_hidden_state.shape == (2, 7, 32)
