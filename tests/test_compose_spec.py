"""The composition spec: JSON and text forms, round trips and error positions."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubcli.compose.spec import AdapterRef, Block, from_json, to_json
from hubcli.compose.text import SpecSyntaxError, format_spec, parse
from hubcli.plugin_api import HubcliError, SpecError

names = st.one_of(
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-/@:+]{0,12}", fullmatch=True),
    st.text(min_size=1, max_size=8),  # anything: printed quoted
)
numbers = st.one_of(st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=False, width=64))
arg_values = st.one_of(numbers, st.lists(numbers, max_size=4).map(tuple))
block_kinds = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
trees = st.recursive(
    names.map(AdapterRef),
    lambda children: st.builds(
        Block,
        block_kinds,
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True), arg_values, max_size=2),
    ),
    max_leaves=12,
)


@given(trees)
@settings(max_examples=300, deadline=None)
def test_text_round_trip(tree):
    assert parse(format_spec(tree)) == tree


@given(trees)
@settings(max_examples=200, deadline=None)
def test_json_round_trip(tree):
    assert from_json(json.loads(json.dumps(to_json(tree)))) == tree


@given(st.text(alphabet=st.sampled_from('abc(),=[]" 0.5-\\\t\n#e'), max_size=40))
@settings(max_examples=600, deadline=None)
def test_garbage_fails_cleanly_with_a_position(text):
    try:
        tree = parse(text)
    except SpecSyntaxError as exc:
        assert 0 <= exc.column <= len(text)
        assert isinstance(exc, HubcliError)
        assert exc.message.endswith(" " * (exc.column + 2) + "^")
    else:
        assert parse(format_spec(tree)) == tree


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_any_text_parses_or_raises_a_hubcli_error(text):
    with contextlib.suppress(SpecSyntaxError):
        parse(text)


def test_examples():
    assert parse("stack(a, parallel(b, c))") == Block(
        "stack", (AdapterRef("a"), Block("parallel", (AdapterRef("b"), AdapterRef("c"))))
    )
    assert parse("average(a, b, weights=[0.7, 0.3])").args == {"weights": (0.7, 0.3)}
    assert parse(" split( a ,b, sizes=[64,64], ) ").args == {"sizes": (64, 64)}
    assert parse('stack("my adapter", x)').children[0] == AdapterRef("my adapter")
    assert format_spec(parse("fuse(a,b,c)")) == "fuse(a, b, c)"


@pytest.mark.parametrize(
    ("text", "column", "problem"),
    [
        ("stack(a, b", 10, "expected ',' or ')', found the end"),
        ("stack(a b)", 8, "expected ',' or ')', found 'b'"),
        ("stack(a,, b)", 8, "expected an adapter name or a block, found ','"),
        ("split(a, b, sizes=[64, x])", 23, "expected a number, found 'x'"),
        ("stack(a, w=1, w=2)", 14, "argument 'w' given twice"),
        ("a) ", 1, "expected the end of the spec, found ')'"),
        ("", 0, "expected an adapter name or a block, found the end"),
        ('stack("a', 6, "unterminated quoted name"),
        ("a(" * 100, 128, "blocks nested more than 64 deep"),
    ],
)
def test_error_positions(text, column, problem):
    with pytest.raises(SpecSyntaxError) as caught:
        parse(text)
    assert caught.value.column == column
    assert caught.value.problem == problem
    assert caught.value.message.splitlines()[-1] == "  " + " " * column + "^"


@pytest.mark.parametrize(
    "data",
    [
        5,
        "",
        {"children": []},
        {"block": "stack"},
        {"block": "stack", "children": [1]},
        {"block": "a b", "children": []},
        {"block": "split", "children": ["a"], "args": {"sizes": ["x"]}},
        {"block": "split", "children": ["a"], "args": {"sizes": [float("nan")]}},
        {"block": "stack", "children": [], "extra": 1},
    ],
)
def test_bad_json_is_a_spec_error(data):
    with pytest.raises(SpecError):
        from_json(data)
