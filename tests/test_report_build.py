"""The PDF report built from hand-made run folders, with a failed and a missing run."""

import json
import logging
import logging.handlers
import re
import subprocess
import sys

import pandas as pd
import pytest

from reports.load import load_runs
from reports.pdf import build_report

MODULES = [("bert.encoder.layer.0.query", 0, "query"), ("bert.encoder.layer.0.value", 0, "value"),
           ("bert.encoder.layer.1.query", 1, "query"), ("bert.encoder.layer.1.value", 1, "value")]
ACCURACY = {"adalora": [0.80, 0.82, 0.81], "ig": [0.83, 0.84, None], "magnitude": [0.78, 0.79, None]}


def write_run(folder, scorer, seed, status="finished", ablation=True):
    folder.mkdir(parents=True)
    config = {"task": "sst2", "model": "minilm", "preset": "smoke", "seed": seed, "scorer": {"name": scorer},
              "train": {"steps": 30}}
    (folder / "config.json").write_text(json.dumps(config))
    environment = {"packages": {"torch": "2.13.0"}, "device": "cpu", "platform": "linux", "python": "3.11",
                   "data_files": {"glue/SST-2/train.tsv": "ab" * 32}, "total_steps": 30}
    (folder / "environment.json").write_text(json.dumps(environment))
    if status != "finished":
        (folder / "status.json").write_text(json.dumps({"status": status, "error": "RuntimeError: boom"}))
        return

    offset = 0.1 * seed + {"adalora": 0.0, "ig": 0.5, "magnitude": 1.0}[scorer]
    ranks = []
    scores = []
    for step, budget in ((0, 2), (10, 2), (20, 1)):
        for index, (module, layer, module_type) in enumerate(MODULES):
            kept = [1, 1] if budget == 2 else [1, 0] if (index + seed) % 2 else [0, 0]
            ranks.append([step, module, layer, module_type, sum(kept)])
            if step:
                for triplet in range(2):
                    scores.append([step, module, triplet, index + triplet * offset + step / 100, kept[triplet]])
    pd.DataFrame(ranks, columns=["step", "module", "layer", "module_type", "rank"]).to_csv(
        folder / "rank_pattern.csv", index=False)
    pd.DataFrame(scores, columns=["step", "module", "triplet", "score", "kept"]).to_csv(
        folder / "triplet_scores.csv", index=False)
    pd.DataFrame({"step": range(1, 31), "loss": 0.7, "task_loss": 0.7, "learning_rate": 1e-3,
                  "budget": 8, "seconds": 0.1 + offset, "extra_passes": 0, "path_scale": 1.0}).to_csv(
        folder / "train_log.csv", index=False)

    if ablation:
        rows = []
        for step in (10, 20):
            rows.append([step, "baseline", "", "", "", "", "", "", 0.7, 0.0, 1])
            for index, (module, layer, module_type) in enumerate(MODULES):
                for triplet in range(2):
                    increase = 0.01 * (index + 1) - 0.004 * triplet * seed
                    rows.append([step, "triplet", module, layer, module_type, triplet, 1, 0.5, 0.7 + increase,
                                 increase, 1])
                rows.append([step, "module", module, layer, module_type, "", 2, "", 0.7, 0.02 * (index + 1), 1])
        columns = ["step", "kind", "module", "layer", "module_type", "triplet", "active_triplets", "singular_value",
                   "loss", "loss_increase", "measured"]
        pd.DataFrame(rows, columns=columns).to_csv(folder / "ablation.csv", index=False)
        (folder / "ablation").mkdir()
        pd.DataFrame({"step": [10, 20], "active_triplets": [8, 8], "measured_triplets": [8, 8],
                      "measured_modules": [4, 4], "baseline_loss": [0.7, 0.7], "forward_passes": [13, 13],
                      "seconds": [1.0, 1.5]}).to_csv(folder / "ablation" / "checkpoints.csv", index=False)

    metrics = {"task": "sst2", "scorer": scorer, "seed": seed, "main_metric": "accuracy",
               "metrics": {"accuracy": ACCURACY[scorer][seed]}, "adapter_parameters": 1000,
               "trainable_parameters": 1200, "seconds_per_step": 0.1 + offset, "extra_passes_per_step": 0.0,
               "wall_seconds": 3.0 + offset, "peak_memory_mb": 500.0, "memory_kind": "process_max_rss"}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "status.json").write_text(json.dumps({"status": "finished"}))


def write_experiment(root, ablation=True):
    for scorer in ACCURACY:
        for seed in range(3):
            if scorer == "magnitude" and seed == 2:
                continue  # planned but never started
            status = "failed" if scorer == "ig" and seed == 2 else "finished"
            write_run(root / f"{scorer}-seed{seed}", scorer, seed, status, ablation)
    plan = {"scorers": list(ACCURACY), "seeds": [0, 1, 2], "task": "sst2"}
    (root / "experiment.json").write_text(json.dumps(plan))
    return root


def page_count(path):
    return len(re.findall(rb"/Type\s*/Page[^s]", path.read_bytes()))


def error_records(caplog):
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The report of one experiment, with the error log records of building it."""
    root = tmp_path_factory.mktemp("report")
    experiment = write_experiment(root / "experiment")
    handler = logging.handlers.BufferingHandler(1000)
    logging.getLogger("reports").addHandler(handler)
    try:
        paths = build_report([experiment], root / "out")
    finally:
        logging.getLogger("reports").removeHandler(handler)
    errors = [record.getMessage() for record in handler.buffer if record.levelno >= logging.ERROR]
    return paths, errors


@pytest.mark.slow
def test_report_names_failed_and_missing_runs(built):
    paths, errors = built
    assert errors == []
    assert paths["report"].read_bytes().startswith(b"%PDF")
    assert page_count(paths["report"]) >= 12
    markdown = paths["markdown"].read_text()
    assert "ig seed 2: failed (RuntimeError: boom)" in markdown
    assert "magnitude seed 2: missing" in markdown
    assert "7 of 9 runs finished." in markdown


@pytest.mark.slow
def test_report_tables_count_finished_seeds(built):
    paths, _ = built
    accuracy = pd.read_csv(paths["accuracy"]).set_index("scorer")
    assert accuracy["seeds"].to_dict() == {"adalora": 3, "ig": 2, "magnitude": 2}
    assert accuracy.loc["ig", "mean"] == pytest.approx(0.835)
    tests = pd.read_csv(paths["paired_tests"]).set_index("scorer")
    assert tests.loc["ig", "pairs"] == 2
    assert tests.loc["magnitude", "mean_difference"] == pytest.approx(-0.025)
    bias = pd.read_csv(paths["bias_summary"])
    assert set(bias["step_label"]) == {"checkpoint 1 of 2", "final"}
    headline = pd.read_csv(paths["headline"])
    assert headline["scorer"].tolist() == ["adalora", "ig", "magnitude"]


@pytest.mark.slow
def test_report_without_ablation_still_builds(tmp_path, caplog):
    experiment = write_experiment(tmp_path / "experiment", ablation=False)
    with caplog.at_level(logging.ERROR):
        paths = build_report([experiment], tmp_path / "out")
    assert error_records(caplog) == []
    assert pd.read_csv(paths["bias_summary"]).empty
    assert "No ablation ground truth was recorded" in paths["markdown"].read_text()


def test_merged_experiments_mark_duplicates(tmp_path):
    first = write_experiment(tmp_path / "first")
    second = tmp_path / "second"
    write_run(second / "adalora-seed0", "adalora", 0)
    tables = load_runs([first, second])
    duplicate = tables.runs[tables.runs["run"] == str(second / "adalora-seed0")]
    assert duplicate["status"].tolist() == ["duplicate"]
    assert len(tables.finished) == 7


@pytest.mark.slow
def test_single_run_report_builds(tmp_path, caplog):
    write_run(tmp_path / "adalora-seed0", "adalora", 0)
    with caplog.at_level(logging.ERROR):
        paths = build_report([tmp_path / "adalora-seed0"], tmp_path / "out")
    assert error_records(caplog) == []
    assert pd.read_csv(paths["stability_seed_pairs"]).empty
    assert "Stability across seeds needs two or more finished seeds" in paths["markdown"].read_text()


def test_reports_import_without_torch():
    # A report must rebuild on a machine without torch or the model.
    code = "import sys, reports.pdf; assert 'torch' not in sys.modules, 'reports imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
