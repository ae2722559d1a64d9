"""The one dataset reader (``hubcli.evaluate.data``): compare's CKA reads every format eval reads,
and eval and compare refuse a broken file with the same one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubcli.analysis.inputs import read_token_ids
from hubcli.evaluate import data
from hubcli.evaluate.data import DatasetError

ROWS = [{"input_ids": [2, 7, 3], "text": "good"}, {"input_ids": [2, 8, 9, 3], "text": "bad"}]


def write(folder: Path, suffix: str) -> Path:
    """``ROWS`` saved in the format of ``suffix``."""
    path = folder / f"d{suffix}"
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(ROWS), path)
    elif suffix == ".json":
        path.write_text(json.dumps(ROWS))
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".json", ".jsonl"])
def test_cka_inputs_read_what_eval_reads(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path, suffix)
    assert read_token_ids(path, tokenizer_source="unused") == [row["input_ids"] for row in ROWS]
    assert data.load(str(path)).rows == ROWS


def test_text_files_are_one_text_per_line(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_text("good\n\nbad\n")
    assert data.load(str(path)).rows == [{"text": "good"}, {"text": "bad"}]


BROKEN = {
    "parquet": ("d.parquet", b"PAR1 not a parquet file"),
    "jsonl": ("d.jsonl", b'{"text": "good"}\n{"text": \n'),
    "json-not-objects": ("d.json", b"[1, 2]"),
    "csv-not-utf8": ("d.csv", b"text\n\xff\xfe\n"),
    "unknown-suffix": ("d.xml", b"<rows/>"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_file_is_one_line_and_the_same_for_eval_and_cka(tmp_path: Path, case: str) -> None:
    name, content = BROKEN[case]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError) as from_eval:
        data.load(str(path))
    with pytest.raises(DatasetError) as from_cka:
        read_token_ids(path, tokenizer_source="unused")
    assert str(from_eval.value) == str(from_cka.value)
    assert str(from_eval.value).startswith(str(path)) and "\n" not in str(from_eval.value)


def test_eval_and_compare_print_the_same_error(cli, tmp_path: Path) -> None:
    broken = tmp_path / "d.parquet"
    broken.write_bytes(b"PAR1 not a parquet file")
    evaluated = cli("eval", "-", "--base", str(tmp_path / "no-model"), "--dataset", str(broken))
    compared = cli("compare", "--cka", str(tmp_path / "no-model"), "base", "base", "--dataset", str(broken))
    assert evaluated.exit_code == compared.exit_code == 1
    assert evaluated.stderr == compared.stderr and "\n" not in evaluated.stderr.strip()
    assert str(broken) in evaluated.stderr
