"""Local copies of lm-evaluation-harness datasets, converted to the hub schema lm-eval expects.

Each reader takes the data folder and returns documents with exactly the fields of the
Hugging Face dataset that lm-eval's task YAML names, so lm-eval's own ``doc_to_text``,
``doc_to_choice`` and ``doc_to_target`` render them unchanged. Files and quirks:

- ARC (``mc/arc_easy``, ``mc/arc_challenge``): ARC-V1 jsonl, ``question.stem`` and a list
  of ``{text, label}`` choices become ``question`` and ``choices = {text: [...], label: [...]}``.
- BoolQ (``mc/boolq/val.jsonl``): the SuperGLUE copy; the JSON boolean label becomes 0/1.
- PIQA, SIQA (``mc/piqa``, ``mc/siqa``): labels live in a line-aligned ``.lst`` file; SIQA's
  labels stay the strings "1"-"3" as on the hub.
- OpenBookQA (``mc/openbookqa/{dev,test}.tsv``): ``Choices`` is "(A) .. (B) .. (C) .. (D) ..".
- WinoGrande (``mc/winogrande``): only llm-foundry's derived form (two contexts with the
  option filled in, and the continuation) exists. The sentence is rebuilt as the common
  prefix of the two contexts, "_", and the continuation, and each option as its context minus
  that prefix. lm-eval's ``doc_to_choice`` and ``doc_to_target`` then return the same strings
  as for the hub document.
- HellaSwag (``mc/hellaswag/hellaswag_val_full.txt``): 6 lines per item. The file joins
  ``ctx_a`` and ``ctx_b`` and does not capitalize ``ctx_b``, so the rebuilt query differs
  from the hub's in the case of that one letter.
- GSM8K (``gsm8k/{train,test}.jsonl``): the authors' files, already in the hub schema.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any

Document = dict[str, Any]


def _require(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"Local data file not found: expected {path}. Point --data-dir (or IGU_DATA_DIR) at the "
            "data folder, or leave it unset to load lm-eval's datasets from the Hugging Face hub."
        )
    return path


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with open(_require(path), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _lines(path: Path) -> list[str]:
    with open(_require(path), encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def read_arc(path: Path) -> list[Document]:
    documents = []
    for row in _jsonl(path):
        choices = row["question"]["choices"]
        documents.append({
            "id": row["id"],
            "question": row["question"]["stem"],
            "choices": {"text": [c["text"] for c in choices], "label": [c["label"] for c in choices]},
            "answerKey": row["answerKey"],
        })
    return documents


def read_boolq(path: Path) -> list[Document]:
    return [
        {"question": row["question"], "passage": row["passage"], "idx": row["idx"], "label": int(bool(row["label"]))}
        for row in _jsonl(path)
    ]


def read_piqa(folder: Path) -> list[Document]:
    rows = _jsonl(folder / "valid.jsonl")
    labels = _lines(folder / "valid-labels.lst")
    _check_aligned(rows, labels, folder / "valid-labels.lst")
    return [{"goal": r["goal"], "sol1": r["sol1"], "sol2": r["sol2"], "label": int(label)} for r, label in zip(rows, labels)]


def read_siqa(folder: Path) -> list[Document]:
    rows = _jsonl(folder / "dev.jsonl")
    labels = _lines(folder / "dev-labels.lst")
    _check_aligned(rows, labels, folder / "dev-labels.lst")
    return [
        {"context": r["context"], "question": r["question"], "answerA": r["answerA"], "answerB": r["answerB"],
         "answerC": r["answerC"], "label": label}
        for r, label in zip(rows, labels)
    ]


_OPENBOOKQA_CHOICE = re.compile(r"\(([A-D])\) (.*?)(?= \([A-D]\) |$)")


def read_openbookqa(path: Path) -> list[Document]:
    with open(_require(path), encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    documents = []
    for row in rows:
        choices = _OPENBOOKQA_CHOICE.findall(row["Choices"])
        if len(choices) != 4:
            raise ValueError(f"Invalid OpenBookQA choices {row['Choices']!r} in {path} (id {row['ID']}).")
        documents.append({
            "id": row["ID"],
            "question_stem": row["Question Stem"],
            "choices": {"text": [text for _, text in choices], "label": [label for label, _ in choices]},
            "answerKey": row["Answer Key"],
        })
    return documents


def read_winogrande(folder: Path) -> list[Document]:
    rows = _jsonl(folder / "winogrande_dev_llmfoundry.jsonl")
    labels = _lines(folder / "dev-labels.lst")
    _check_aligned(rows, labels, folder / "dev-labels.lst")
    documents = []
    for row, label in zip(rows, labels):
        first, second = row["context_options"]
        prefix = os.path.commonprefix([first, second])
        documents.append({
            "sentence": f"{prefix}_ {row['continuation'].strip()}",
            "option1": first[len(prefix):],
            "option2": second[len(prefix):],
            "answer": label,
        })
    return documents


def read_hellaswag(path: Path) -> list[Document]:
    with open(_require(path), encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    documents = []
    for start in range(0, len(lines) - 5, 6):
        context, label, *endings = lines[start : start + 6]
        activity_label, _, ctx_a = context.partition(": ")
        documents.append({"activity_label": activity_label, "ctx_a": ctx_a, "ctx_b": "", "endings": endings,
                          "label": label.strip()})
    return documents


def read_gsm8k(path: Path) -> list[Document]:
    return [{"question": row["question"], "answer": row["answer"]} for row in _jsonl(path)]


def _check_aligned(rows: list, labels: list, path: Path) -> None:
    if len(rows) != len(labels):
        raise ValueError(f"{path} has {len(labels)} labels for {len(rows)} items; the files must be line-aligned.")


