"""Property: a per-row batch over random sub-compositions equals running every row alone under
its own sub-composition (hypothesis over trees of LoRA, IA³ and bottleneck adapters)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubcli.compose.setup import activate, deactivate
from hubcli.engine import StitchedModel, read_adapter
from hubcli.importer import import_adapter
from hubcli.plugin_api import AdapterFolder
from hubcli.testing.tolerance import assert_outputs_close
from registry import Registry

GOLDEN = Path(__file__).parent / "golden" / "adapterhub" / "bert"
LEAF_ADAPTERS = ("lora", "lora_2", "ia3")
BLOCK_ADAPTERS = ("seq_bn", "seq_bn_2", "double_seq_bn")
SEQUENCE = 7


@pytest.fixture(scope="module")
def stitched(tmp_path_factory) -> StitchedModel:
    from transformers import AutoModel

    registry = Registry(tmp_path_factory.mktemp("registry"))
    model = StitchedModel(AutoModel.from_pretrained(GOLDEN / "base", attn_implementation="eager").eval())
    for name in LEAF_ADAPTERS + BLOCK_ADAPTERS:
        import_adapter(registry, AdapterFolder(GOLDEN / "adapters" / name), name=name)
        model.attach(read_adapter(registry, name))
    registry.close()
    return model


def weights(count: int) -> st.SearchStrategy[str]:
    return st.lists(st.integers(1, 9), min_size=count, max_size=count).map(lambda w: ", ".join(map(str, w)))


def sub_compositions() -> st.SearchStrategy[str]:
    """Small trees every architecture involved supports (split and stack of bottlenecks only
    where LoRA/IA³ cannot go)."""
    any_adapter = st.sampled_from(LEAF_ADAPTERS + BLOCK_ADAPTERS)
    bottleneck = st.sampled_from(BLOCK_ADAPTERS)
    stack = st.lists(any_adapter, min_size=1, max_size=3, unique=True).map(lambda a: f"stack({', '.join(a)})")
    average = st.lists(any_adapter, min_size=2, max_size=3, unique=True).flatmap(
        lambda a: weights(len(a)).map(lambda w: f"average({', '.join(a)}, weights=[{w}])")
    )
    split = st.tuples(bottleneck, bottleneck, st.integers(1, SEQUENCE - 1)).map(
        lambda t: f"split({t[0]}, {t[1]}, sizes=[{t[2]}, {SEQUENCE - t[2]}])"
    )
    return st.one_of(any_adapter, stack, average, split)


@given(
    children=st.lists(sub_compositions(), min_size=1, max_size=4),
    data=st.data(),
)
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_per_row_over_sub_compositions_equals_rows_alone(stitched, children, data):
    rows = data.draw(st.lists(st.integers(-1, len(children) - 1), min_size=1, max_size=5))
    ids = torch.randint(3, 100, (len(rows), SEQUENCE), generator=torch.Generator().manual_seed(len(rows)))
    mask = torch.ones_like(ids)
    expected = []
    with torch.inference_mode():
        for i, row in enumerate(rows):
            if row < 0:
                deactivate(stitched)
            else:
                activate(stitched, children[row])
            expected.append(
                stitched.model(input_ids=ids[i : i + 1], attention_mask=mask[i : i + 1]).last_hidden_state
            )
        activate(stitched, f"batch_split({', '.join(children)}, rows=[{', '.join(map(str, rows))}])")
        got = stitched.model(input_ids=ids, attention_mask=mask).last_hidden_state
    assert_outputs_close(got, torch.cat(expected), stitched)


@given(children=st.lists(sub_compositions(), min_size=2, max_size=3))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_parallel_replicas_equal_their_children_alone(stitched, children):
    from hubcli.compose.setup import outputs_per_child

    ids = torch.randint(3, 100, (2, SEQUENCE), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, -2:] = 0
    with torch.inference_mode():
        alone = []
        for child in children:
            activate(stitched, child)
            alone.append(stitched.model(input_ids=ids, attention_mask=mask).last_hidden_state)
        setup = activate(stitched, f"parallel({', '.join(children)})")
        parts = outputs_per_child(stitched.model(input_ids=ids, attention_mask=mask), setup)
    for single, part in zip(alone, parts, strict=True):
        assert_outputs_close(part["last_hidden_state"], single, stitched)
