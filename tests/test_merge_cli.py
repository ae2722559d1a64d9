"""``hubcli merge`` end to end: merge registered PEFT LoRAs, then ``hubcli show`` the result."""

from __future__ import annotations

import pytest

from hubcli.testing import tiny_model
from tests.helpers.tiny_models import ENGINE_OPTIONS
from tests.test_merge_support import peft_folder, register


@pytest.fixture
def loras(registry, tmp_path):
    base = tiny_model("llama", **ENGINE_OPTIONS["llama"])
    for name, seed in (("a", 1), ("b", 2)):
        register(registry, peft_folder(base, tmp_path / name, seed=seed), name)


def test_merge_then_show(cli, loras):
    result = cli("merge", "a", "b", "--name", "ab", "--weights", "0.7,0.3", "--json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["name"] == "ab" and report["factoring"] == "exact concatenation"
    assert report["inputs"] == ["a", "b"] and report["weights"] == [0.7, 0.3]

    shown = cli("show", "ab", "--json")
    assert shown.exit_code == 0, shown.stderr
    adapter = shown.json()
    assert adapter["architecture"] == "lora" and adapter["format"] == "peft"
    assert "merged" in adapter["tags"]
    assert (
        adapter["description"]
        == "merge linear of a (w=0.7), b (w=0.3); exact concatenation rank 8, relative error 0"
    )
    assert adapter["source_kind"] == "merge" and adapter["base_model"] == "tiny/llama"
    assert adapter["method_config"]["r"] == 8
    assert {f["path"] for f in adapter["files"]} == {"adapter_config.json", "adapter_model.safetensors"}


def test_svd_merge_prints_the_error_for_people(cli, loras):
    result = cli("merge", "a", "b", "--name", "ab2", "--method", "ties", "--rank", "2", "--density", "0.3")
    assert result.exit_code == 0, result.stderr
    assert "registered 'ab2'" in result.stdout
    assert "rank 2, relative Frobenius error" in result.stdout


def test_errors_are_one_line_and_change_nothing(cli, loras):
    for args, message in (
        (("merge", "a", "--name", "x"), "merging needs at least two adapters"),
        (("merge", "a", "b", "--name", "x", "--weights", "1"), "--weights has 1 values for 2 adapters"),
        (("merge", "a", "nope", "--name", "x"), "nope"),
        (("merge", "a", "b", "--name", "a"), "already exists"),
        (("merge", "a", "b", "--name", "x", "--method", "dare"), "unknown merge method 'dare'"),
    ):
        result = cli(*args)
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: ") and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert [row["name"] for row in cli("list", "--json").json()] == ["a", "b"]


def test_dare_ties_and_svd_record_their_options(cli, loras):
    result = cli(
        "merge", "a", "b", "--name", "dt", "--method", "dare_ties", "--density", "0.4", "--seed", "3"
    )
    assert result.exit_code == 0, result.stderr
    description = cli("show", "dt", "--json").json()["description"]
    assert description.startswith(
        "merge dare_ties of a (w=1), b (w=1); density=0.4, seed=3, svd rank 8, relative error "
    )
    report = cli("merge", "a", "b", "--name", "s", "--method", "svd", "--weights", "1,-1", "--json").json()
    assert report["factoring"] == "svd" and report["ranks"] == [4] and report["method"] == "svd"


def test_the_new_name_is_a_required_option(cli, loras):
    result = cli("merge", "a", "b")
    assert result.exit_code == 1 and "Missing option '--name'" in result.stderr
    assert [row["name"] for row in cli("list", "--json").json()] == ["a", "b"]
