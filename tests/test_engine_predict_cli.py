"""``hubcli predict`` end to end: a base model folder, an adapter imported with ``hubcli add``,
outputs compared with PEFT's."""

from __future__ import annotations

import json

import pytest
import torch

from hubcli.testing import model_output, tiny_inputs
from hubcli.testing.models import TINY_INPUT_IDS
from hubcli.testing.tolerance import assert_outputs_close
from tests.helpers.tiny_models import peft_adapter


@pytest.mark.parametrize(("family", "method"), [("bert", "lora"), ("llama", "prefix"), ("gpt2", "prompt")])
def test_predict_json_equals_peft(cli, tmp_path, family, method):
    base, wrapped = peft_adapter(family, method, tmp_path / "adapter")
    base.save_pretrained(tmp_path / "base")
    assert cli("add", tmp_path / "adapter", "--name", "a").exit_code == 0
    ids, mask = tiny_inputs()
    with torch.no_grad():
        expected = model_output(wrapped(input_ids=ids, attention_mask=mask))
    if method == "prompt":
        expected = expected[:, 3:]
    rows = [row[: sum(m)] for row, m in zip(TINY_INPUT_IDS, mask.tolist(), strict=True)]  # ragged
    result = cli("predict", tmp_path / "base", "a", "--input-ids", json.dumps(rows), "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["output"] == "logits" and data["shape"] == list(expected.shape)
    got = torch.tensor(data["values"])
    assert_outputs_close(got[0], expected[0], base)
    assert_outputs_close(got[1, :3], expected[1, :3], base)  # the padded row, where it is real
    if family == "bert":
        assert len(data["labels"]) == 2
    else:  # the argmax at each row's last real token
        assert data["next_token_ids"] == [int(expected[0, -1].argmax()), int(expected[1, 2].argmax())]


def test_predict_human_output_and_errors(cli, tmp_path):
    base, _ = peft_adapter("bert", "ia3", tmp_path / "adapter")
    base.save_pretrained(tmp_path / "base")
    cli("add", tmp_path / "adapter", "--name", "a")
    result = cli("predict", tmp_path / "base", "a", "--input-ids", "[2, 15, 27]")
    assert result.exit_code == 0
    assert "logits (1, 3)" in result.stdout and "[0] LABEL_" in result.stdout

    bad = cli("predict", tmp_path / "base", "a", "--input-ids", "[[2, -1]]")
    assert bad.exit_code == 1
    both = cli("predict", tmp_path / "base", "a")
    assert both.exit_code == 1
    no_tokenizer = cli("predict", tmp_path / "base", "a", "--text", "hello")
    assert no_tokenizer.exit_code == 1 and "Error: no tokenizer files" in no_tokenizer.stderr
    missing = cli("predict", tmp_path / "nowhere", "a", "--input-ids", "[[2]]")
    assert missing.exit_code == 1 and "Error:" in missing.stderr


def test_predict_text_with_the_base_tokenizer(cli, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    base, _ = peft_adapter("bert", "lora", tmp_path / "adapter")
    base.save_pretrained(tmp_path / "base")
    vocab = {"[PAD]": 0, "[UNK]": 1, **{f"w{i}": i for i in range(2, 100)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]").save_pretrained(
        tmp_path / "base"
    )
    cli("add", tmp_path / "adapter", "--name", "a")
    by_text = cli("predict", tmp_path / "base", "a", "--text", "w2 w15 w27", "--text", "w3 w5", "--json")
    by_ids = cli("predict", tmp_path / "base", "a", "--input-ids", "[[2, 15, 27], [3, 5]]", "--json")
    assert by_text.exit_code == 0, by_text.stderr
    assert by_text.json()["values"] == by_ids.json()["values"]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_predict_in_half_precision_is_close_to_float32(cli, tmp_path, dtype):
    base, _ = peft_adapter("llama", "dora", tmp_path / "adapter")
    base.save_pretrained(tmp_path / "base")
    cli("add", tmp_path / "adapter", "--name", "a")
    args = ("predict", tmp_path / "base", "a", "--input-ids", "[[2, 15, 27, 4]]", "--json")
    full = torch.tensor(cli(*args).json()["values"])
    half = cli(*args, "--dtype", dtype)
    assert half.exit_code == 0, half.stderr
    assert half.json()["dtype"] == dtype
    assert (torch.tensor(half.json()["values"]) - full).abs().max() <= 0.05 * full.abs().max()
