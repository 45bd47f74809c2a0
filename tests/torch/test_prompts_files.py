"""Prompt files (.txt, .jsonl, and .json/.csv/.tsv/.parquet through `datasets`) and the shipped prompt set."""

from __future__ import annotations

import csv
import json

import pytest

from backends.rlhf.prompts import (
    PromptFileError,
    alignment_prompt_records,
    alignment_prompts,
    load_prompt_records,
    load_prompts,
)

PROMPTS = ["How do I sort a list?", "Tell me, politely, to go away.", 'Quote "this", please']


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_txt_one_prompt_per_line_blank_lines_skipped(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("\n".join([PROMPTS[0], "", "   ", f"  {PROMPTS[1]}  ", PROMPTS[2]]) + "\n", encoding="utf-8")
    assert load_prompts(f) == PROMPTS
    f.write_bytes("\ufeff".encode() + "first\r\nsecond\r\n".encode())  # BOM and Windows line ends
    assert load_prompts(f) == ["first", "second"]


def test_jsonl_keeps_other_columns_and_reads_a_named_field(tmp_path):
    recs = [{"prompt": p, "topic": t} for p, t in zip(PROMPTS, "abc", strict=True)]
    f = _write_jsonl(tmp_path / "p.jsonl", recs)
    assert load_prompts(f) == PROMPTS
    assert [r["topic"] for r in load_prompt_records(f)] == ["a", "b", "c"]
    g = _write_jsonl(tmp_path / "q.jsonl", [{"question": p} for p in PROMPTS])
    assert load_prompts(g, field="question") == PROMPTS


def test_csv_json_tsv_and_parquet_read_through_datasets(tmp_path):
    pytest.importorskip("datasets")
    with open(tmp_path / "p.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", "topic"])
        w.writerows([[p, t] for p, t in zip(PROMPTS, "abc", strict=True)])
    with open(tmp_path / "p.tsv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter="\t")
        w.writerow(["id", "text"])
        w.writerows(enumerate(PROMPTS))
    (tmp_path / "p.json").write_text(json.dumps([{"prompt": p} for p in PROMPTS]), encoding="utf-8")
    import pandas as pd

    pd.DataFrame({"prompt": PROMPTS, "n": [3, 1, 2]}).to_parquet(tmp_path / "p.parquet")
    assert load_prompts(tmp_path / "p.csv") == PROMPTS
    assert [r["topic"] for r in load_prompt_records(tmp_path / "p.csv")] == ["a", "b", "c"]
    assert load_prompts(tmp_path / "p.tsv", field="text") == PROMPTS
    assert load_prompts(tmp_path / "p.json") == PROMPTS
    assert [r["n"] for r in load_prompt_records(tmp_path / "p.parquet")] == [3, 1, 2]


def test_shipped_alignment_prompts():
    recs = alignment_prompt_records()
    cats = [r["category"] for r in recs]
    assert len(recs) == 48 and cats.count("safety") == 24 and cats.count("helpfulness") == 24
    prompts = alignment_prompts()
    assert len(set(prompts)) == 48 and all(p == p.strip() and len(p) > 10 for p in prompts)


@pytest.mark.parametrize("name, content, field, match", [
    ("p.txt", "\n  \n\n", "prompt", "no usable prompt"),
    ("p.jsonl", '{"prompt": ""}\n{"prompt": null}\n', "prompt", r"no usable prompt \(no non-empty 'prompt' in 2"),
    ("p.jsonl", '{"text": "hi"}\n', "prompt", r"record 1 has no 'prompt' field \(it has \['text'\]\)"),
    ("p.jsonl", '{"prompt": "a"}\n{"prompt": \n', "prompt", "line 2 is not valid JSON"),
    ("p.jsonl", '["a", "b"]\n', "prompt", "line 1 must be a JSON object"),
    ("p.jsonl", '{"prompt": 3}\n', "prompt", "record 1: 'prompt' must be a string, got int"),
    ("p.md", "hello\n", "prompt", "unsupported suffix '.md'"),
])
def test_bad_prompt_files_are_named_and_explained(tmp_path, name, content, field, match):
    f = tmp_path / name
    f.write_text(content, encoding="utf-8")
    with pytest.raises(PromptFileError, match=match) as info:
        load_prompts(f, field=field)
    assert str(f) in str(info.value) and isinstance(info.value, ValueError)


def test_missing_path_directory_and_bad_field(tmp_path):
    with pytest.raises(PromptFileError, match="does not exist"):
        load_prompts(tmp_path / "nope.txt")
    with pytest.raises(PromptFileError, match="is a directory"):
        load_prompts(tmp_path)
    with pytest.raises(ValueError, match="`field` must be a non-empty column name"):
        load_prompts(tmp_path / "x.txt", field="")


def test_malformed_parquet_is_reported_not_raised_raw(tmp_path):
    pytest.importorskip("datasets")
    f = tmp_path / "p.parquet"
    f.write_bytes(b"this is not parquet")
    with pytest.raises(PromptFileError, match="cannot read it as parquet"):
        load_prompts(f)
