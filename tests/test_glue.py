"""GLUE TSV reading: official row counts, label maps, file quirks and missing files."""

from pathlib import Path

import numpy as np
import pytest

from evals.glue import GLUE_SPECS, GlueTask, glue_file, read_glue_tsv
from evals.metrics import compute_metrics
from igu_suite.tasks import resolve_data_dir

LOCAL_SPLITS = [
    ("sst2", "train"), ("sst2", "dev"), ("cola", "train"), ("cola", "dev"), ("mrpc", "train"), ("mrpc", "dev"),
    ("rte", "train"), ("rte", "dev"), ("stsb", "train"), ("stsb", "dev"), ("qnli", "dev"),
]


@pytest.mark.parametrize("task, split", LOCAL_SPLITS)
def test_row_counts_match_official_sizes(task, split, data_dir):
    spec = GLUE_SPECS[task]
    examples = read_glue_tsv(spec, glue_file(spec, split, data_dir))
    assert len(examples) == spec.official_rows[split]


@pytest.mark.parametrize(
    "task, split, label_counts",
    [
        ("sst2", "dev", {1: 444, 0: 428}),
        ("cola", "dev", {1: 721, 0: 322}),
        ("mrpc", "train", {1: 2474, 0: 1194}),
        ("rte", "dev", {0: 146, 1: 131}),
        ("qnli", "dev", {0: 2702, 1: 2761}),
    ],
)
def test_label_counts(task, split, label_counts, data_dir):
    spec = GLUE_SPECS[task]
    labels = [e["label"] for e in read_glue_tsv(spec, glue_file(spec, split, data_dir))]
    assert {label: labels.count(label) for label in label_counts} == label_counts


def test_stsb_scores_are_floats_in_range(data_dir):
    spec = GLUE_SPECS["stsb"]
    scores = np.array([e["label"] for e in read_glue_tsv(spec, glue_file(spec, "dev", data_dir))])
    assert scores.min() >= 0.0
    assert scores.max() <= 5.0
    assert abs(scores.mean() - 2.36) < 0.01


def test_mrpc_byte_order_mark_is_stripped(data_dir):
    spec = GLUE_SPECS["mrpc"]
    first = read_glue_tsv(spec, glue_file(spec, "train", data_dir))[0]
    assert not first["text_a"].startswith("\ufeff")
    assert first["text_b"]


def test_cola_first_row_is_data(data_dir):
    spec = GLUE_SPECS["cola"]
    first = read_glue_tsv(spec, glue_file(spec, "train", data_dir))[0]
    assert first["label"] in (0, 1)
    assert len(first["text_a"].split()) > 2


def test_missing_file_names_expected_path(tmp_path):
    (tmp_path / "glue" / "SST-2").mkdir(parents=True)
    (tmp_path / "glue" / "SST-2" / "train.tsv").write_text("sentence\tlabel\ngood\t1\n")
    task = GlueTask(GLUE_SPECS["sst2"])
    assert len(task.load_examples("train", str(tmp_path))) == 1
    with pytest.raises(FileNotFoundError, match=str(Path(tmp_path) / "glue" / "SST-2" / "dev.tsv")):
        task.load_examples("dev", str(tmp_path))


def test_missing_data_folder_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_data_dir(str(tmp_path / "nowhere"))


def test_invalid_label_names_the_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
    with pytest.raises(ValueError, match="'maybe'.*train.tsv:2"):
        read_glue_tsv(GLUE_SPECS["rte"], path)


def test_metrics_on_hand_made_predictions():
    predictions = np.array([1, 0, 1, 1])
    labels = np.array([1, 1, 1, 0])
    metrics = compute_metrics(["accuracy", "f1", "mcc"], predictions, labels)
    assert metrics["accuracy"] == 0.5
    # tp = 2, fp = 1, fn = 1: precision = recall = 2/3.
    assert metrics["f1"] == pytest.approx(2 / 3)
    # tn = 0: mcc = (2*0 - 1*1) / sqrt(3 * 3 * 1 * 1) = -1/3.
    assert metrics["mcc"] == pytest.approx(-1 / 3)


def test_pearson_and_spearman():
    predictions = np.array([1.0, 2.0, 3.0, 4.0])
    metrics = compute_metrics(["pearson", "spearman"], predictions, predictions**3)
    assert metrics["spearman"] == pytest.approx(1.0)
    assert metrics["pearson"] < 1.0
