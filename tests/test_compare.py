"""compare end to end on the smoke preset: summary, report, reruns and missing runs."""

import json
import os

import pandas as pd
import pytest
import torch

from igu_suite.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, data_dir):
    output = tmp_path_factory.mktemp("experiment")
    args = ["compare", "--scorers", "adalora,ig", "--seeds", "0", "--preset", "smoke", "--data-dir", data_dir,
            "--output", str(output), "--no-progress"]
    assert main(args) == 0
    return output, args


def test_summary_has_one_row_per_run(experiment):
    output, _ = experiment
    summary = pd.read_csv(output / "summary.csv")
    assert sorted(summary["scorer"]) == ["adalora", "ig"]
    assert set(summary["status"]) == {"finished"}
    assert summary["main_metric"].tolist() == ["accuracy", "accuracy"]
    assert summary["main_value"].between(0, 1).all()
    assert (summary["seconds_per_step"] > 0).all()
    assert summary.loc[summary["scorer"] == "ig", "extra_passes_per_step"].iloc[0] > 0


def test_report_is_a_pdf(experiment):
    output, _ = experiment
    assert (output / "report.pdf").read_bytes().startswith(b"%PDF")
    assert "| adalora | 1 |" in (output / "report.md").read_text()


def test_run_folder_contents(experiment):
    output, _ = experiment
    run = output / "adalora-seed0"
    for name in ("config.json", "environment.json", "metrics.json", "status.json", "train_log.csv",
                 "rank_pattern.csv", "triplet_scores.csv", "adapter/adapter_config.json"):
        assert (run / name).exists(), name
    ranks = pd.read_csv(run / "rank_pattern.csv")
    final = ranks[ranks["step"] == ranks["step"].max()]
    assert final["rank"].sum() == 2 * 36  # target rank 2 on 36 MiniLM modules
    environment = json.loads((run / "environment.json").read_text())
    assert any(path.endswith("SST-2/train.tsv") for path in environment["data_files"])


def test_ablation_ground_truth_recorded(experiment):
    output, _ = experiment
    held_out_rows = []
    for name in ("adalora-seed0", "ig-seed0"):
        run = output / name
        ablation = pd.read_csv(run / "ablation.csv")
        # The smoke schedule allocates at steps 4, 6 and 8; fractions 0.5 and 1 pick 4 and 8.
        assert sorted(ablation["step"].unique()) == [4, 8]
        assert set(ablation["kind"]) == {"baseline", "triplet", "module"}
        assert (ablation.loc[ablation["kind"] == "triplet"].groupby("step").size() == 8).all()
        assert (run / "ablation" / "step-000008" / "adapter" / "adapter_model.safetensors").is_file()
        held_out_rows.append(json.loads((run / "ablation" / "heldout.json").read_text())["rows"])
    assert held_out_rows[0] == held_out_rows[1]
    bias = pd.read_csv(output / "bias_summary.csv")
    assert set(bias["scorer"]) == {"adalora", "ig"}


def test_checkpoint_reloads_with_same_loss(experiment):
    from igu_suite.ablation import held_out_loss, load_checkpoint

    output, _ = experiment
    run = output / "adalora-seed0"
    checkpoint = load_checkpoint(run, 8)
    loss = held_out_loss(checkpoint.model, checkpoint.task, checkpoint.held_out, torch.device("cpu"), bf16=False)
    ablation = pd.read_csv(run / "ablation.csv")
    baseline = ablation.loc[(ablation["kind"] == "baseline") & (ablation["step"] == 8), "loss"].iloc[0]
    assert loss == pytest.approx(baseline, abs=1e-6)
    saved = json.loads((run / "ablation" / "step-000008" / "masks.json").read_text())["masks"]
    assert {name: kept.tolist() for name, kept in checkpoint.adapters.masks().items()} == saved


def test_other_scorer_scores_checkpoint(experiment):
    from igu_suite.ablation import load_checkpoint, score_checkpoint
    from igu_suite.config import ScorerConfig

    output, _ = experiment
    checkpoint = load_checkpoint(output / "adalora-seed0", 8)
    scores = score_checkpoint(checkpoint, ScorerConfig(name="sensitivity"))
    masks = checkpoint.adapters.masks()
    assert set(scores) == set(masks)
    for name, kept in masks.items():
        assert scores[name].shape == kept.shape
        # A masked triplet gets no gradient, so its sensitivity |θ·∇θ L| is exactly 0.
        assert (scores[name][~kept] == 0).all()
    assert sum(float(values.sum()) for values in scores.values()) > 0


def test_ablation_leaves_training_unchanged(experiment, data_dir, tmp_path):
    output, _ = experiment
    plain = tmp_path / "no-ablation"
    args = ["run", "--scorer", "adalora", "--seed", "0", "--preset", "smoke", "--data-dir", data_dir,
            "--output", str(plain), "--no-progress", "--set", "ablation.enabled=false"]
    assert main(args) == 0
    assert not (plain / "ablation.csv").exists()
    measured = pd.read_csv(output / "adalora-seed0" / "train_log.csv")
    unmeasured = pd.read_csv(plain / "train_log.csv")
    assert measured["loss"].tolist() == unmeasured["loss"].tolist()
    assert measured["budget"].tolist() == unmeasured["budget"].tolist()
    ranks = [pd.read_csv(folder / "rank_pattern.csv") for folder in (output / "adalora-seed0", plain)]
    assert ranks[0]["rank"].tolist() == ranks[1]["rank"].tolist()


def test_rerun_skips_finished_runs(experiment, capsys):
    output, args = experiment
    before = {p.name: os.path.getmtime(p / "metrics.json") for p in output.glob("*-seed0")}
    assert main(args) == 0
    after = {p.name: os.path.getmtime(p / "metrics.json") for p in output.glob("*-seed0")}
    assert before == after


def test_unfinished_run_is_redone(experiment):
    output, args = experiment
    status_path = output / "ig-seed0" / "status.json"
    status_path.write_text(json.dumps({"status": "failed", "error": "KeyboardInterrupt"}))
    kept = os.path.getmtime(output / "adalora-seed0" / "metrics.json")
    assert main(args) == 0
    assert json.loads(status_path.read_text())["status"] == "finished"
    assert os.path.getmtime(output / "adalora-seed0" / "metrics.json") == kept


def test_changed_config_is_not_reused(experiment, capsys):
    output, args = experiment
    assert main(args + ["--set", "train.lr=1e-3"]) == 2
    assert "was made with a different config (train.lr" in capsys.readouterr().err


def test_report_with_missing_run(experiment, tmp_path, capsys):
    output, _ = experiment
    missing = output / "adalora-seed1"
    assert main(["report", str(output / "adalora-seed0"), str(missing), "--output", str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "adalora seed 1: missing" in text
