"""``hubcli merge`` end to end: merge registered PEFT LoRAs, then ``hubcli show`` the result."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from tests.test_merge_support import peft_folder, register, tiny_llama  # noqa: E402


@pytest.fixture
def loras(registry, tmp_path):
    base = tiny_llama()
    for name, seed in (("a", 1), ("b", 2)):
        register(registry, peft_folder(base, tmp_path / name, seed=seed), name)


def test_merge_then_show(cli, loras):
    result = cli("merge", "ab", "a", "b", "--weights", "0.7,0.3", "--json")
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
    result = cli("merge", "ab2", "a", "b", "--method", "ties", "--rank", "2", "--density", "0.3")
    assert result.exit_code == 0, result.stderr
    assert "registered 'ab2'" in result.stdout
    assert "rank 2, relative Frobenius error" in result.stdout


def test_errors_are_one_line_and_change_nothing(cli, loras):
    for args, message in (
        (("merge", "x", "a"), "merging needs at least two adapters"),
        (("merge", "x", "a", "b", "--weights", "1"), "--weights has 1 values for 2 adapters"),
        (("merge", "x", "a", "nope"), "nope"),
        (("merge", "a", "a", "b"), "already exists"),
    ):
        result = cli(*args)
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: ") and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert [row["name"] for row in cli("list", "--json").json()] == ["a", "b"]
