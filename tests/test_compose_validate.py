"""Validating compositions against the installed plugins, without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hubcli import discovery
from hubcli.compose.adapter_setup import from_adapterhub
from hubcli.compose.spec import AdapterRef, Block
from hubcli.compose.text import format_spec, parse
from hubcli.compose.validate import MAX_DEPTH, validate
from hubcli.plugin_api import CompositionPlugin, SpecError

ARCHITECTURES = {
    "l1": "lora",
    "l2": "lora",
    "b1": "bottleneck",
    "b2": "bottleneck",
    "b3": "bottleneck",
    "p": "prompt_tuning",
    "x": "prefix_tuning",
    "i": "ia3",
}


def test_the_six_blocks_are_entry_point_plugins():
    blocks = {info.name: info for info in discovery.manager.infos("composition")}
    built_in = {name for name, info in blocks.items() if info.distribution == "hubcli"}
    assert built_in == {
        "stack",
        "split",
        "batch_split",
        "parallel",
        "average",
        "fuse",
    }  # + installed examples
    assert all(isinstance(discovery.manager.load("composition", name), CompositionPlugin) for name in blocks)


@pytest.mark.parametrize(
    "spec",
    [
        "stack(b1, parallel(l1, stack(b2, l2)))",
        "batch_split(stack(b1, l1), average(b2, i, weights=[1, 3]), sizes=[2, 2])",
        "split(b1, stack(b2, b3), sizes=[64, 64])",
        "fuse(b1, b2, b3, static=1)",
        "stack(x, l1)",
        "average(split(b1, b2, sizes=[1, 2]), fuse(b1, b3))",
        "batch_split(l1, l2, i, rows=[2, 0, -1, 1, 0])",
    ],
)
def test_valid_specs(spec):
    validated = validate(parse(spec), ARCHITECTURES)
    assert format_spec(validated.root) == spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "split(l1, b1, sizes=[1, 2])",
            "architecture 'lora' (adapter 'l1') does not support the 'split' block",
        ),
        ("fuse(b1, i)", "architecture 'ia3' (adapter 'i') does not support the 'fuse' block"),
        ("stack(p, l1)", "architecture 'prompt_tuning' (adapter 'p') does not support the 'stack' block"),
        ("stack(l1, zz)", "adapter 'zz' is not attached"),
        (
            "mix(l1, l2)",
            "unknown block 'mix' (blocks: average, batch_split, fuse, parallel, split, stack",
        ),  # + installed examples
        ("split(b1, b2)", "split: needs sizes=[…]"),
        ("split(b1, b2, sizes=[1.5, 2])", "split: sizes must be positive whole numbers"),
        (
            "batch_split(l1, l2, sizes=[1, 1], rows=[0, 1])",
            "give either sizes=[…] (rows per child) or rows=[…]",
        ),
        ("average(l1, l2, weights=[1])", "average: weights has 1 entries for 2 children"),
        ("average(l1, l2, normalize=2)", "average: normalize must be 0 or 1"),
        ("fuse(b1, stack(b2, b3))", "fuse cannot contain stack (it may contain: no blocks)"),
        ("average(l1, parallel(l2, i))", "parallel may only be the outermost block or inside stack blocks"),
        ("stack(parallel(l1, l2), parallel(l1, l2))", "at most one parallel block per composition"),
        ("parallel(l1)", "parallel: takes at least 2 children, got 1"),
        ("stack(l1, l2, depth=3)", "stack: unknown argument 'depth' (allowed: none)"),
        ("stack(" * (MAX_DEPTH + 1) + "l1" + ")" * (MAX_DEPTH + 1), f"the limit is {MAX_DEPTH}"),
    ],
)
def test_invalid_specs(spec, message):
    with pytest.raises(SpecError) as caught:
        validate(parse(spec), ARCHITECTURES)
    assert message in caught.value.message


def test_adapters_compositions_convert_with_the_average_correction():
    tree = from_adapterhub(
        {
            "type": "Stack",
            "children": [
                {"type": "single", "children": ["a"]},
                {"type": "Average", "children": ["b", "c"], "kwargs": {"weights": [0.7, 0.3]}},
                {"type": "Split", "children": ["d", "e"], "kwargs": {"splits": [4, 3]}},
                {"type": "BatchSplit", "children": ["f", "g"], "kwargs": {"batch_sizes": [1, 1]}},
            ],
        }
    )
    assert format_spec(tree) == (
        "stack(a, average(b, c, weights=[0.35, 0.15], normalize=0), "
        "split(d, e, sizes=[4, 3]), batch_split(f, g, sizes=[1, 1]))"
    )
    assert from_adapterhub("a") == AdapterRef("a")
    with pytest.raises(SpecError, match="no hubcli equivalent"):
        from_adapterhub({"type": "MultiTask", "children": []})
    assert isinstance(tree, Block)


def test_validation_imports_no_torch():
    code = (
        "import sys\n"
        "from hubcli.compose.text import parse\n"
        "from hubcli.compose.validate import validate\n"
        "validate(parse('stack(fuse(a, b), split(c, d, sizes=[1, 1]), batch_split(e, f, rows=[1, 0]), "
        "average(g, h))'))\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    ("spec", "at"),
    [
        ("stack(l1, mix(l2, i))", "mix("),
        ("stack(b1, split(l1, b2, sizes=[1, 2]))", "l1, b2"),
        ("average(l1, parallel(l2, i))", "parallel("),
        ("stack(parallel(l1, l2), parallel(l1, i))", "parallel(l1, i)"),
        ("fuse(b1, stack(b2, b3))", "stack("),
        ("stack(l1, split(b1, b2))", "split("),
        ("stack(l1, zz)", "zz"),
    ],
)
def test_validation_errors_point_at_the_node(spec, at):
    with pytest.raises(SpecError) as caught:
        validate(parse(spec), ARCHITECTURES)
    assert caught.value.column == spec.index(at)
