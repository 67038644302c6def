"""Command-line errors: exit code, one clear message, and no half-written results."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from igu_suite.cli import main


def run_cli(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def smoke(data_dir, output, *extra):
    return ["run", "--preset", "smoke", "--data-dir", data_dir, "--output", str(output), "--no-progress", *extra]


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--scorer", "adalorra"], "Unknown scorer 'adalorra'. Did you mean adalora?"),
        (["--task", "sst3"], "Unknown task 'sst3'"),
        (["--scorer", "no_such_package.mod:Scorer"], "Cannot import module 'no_such_package.mod'"),
        (["--set", "schedule.t_init=50"], "t_init (50) + t_final (2)"),
        (["--set", "adapter.target_rank=9"], "adapter.target_rank (9) is above adapter.init_rank (4)"),
        (["--set", "adapter.target_modules=query,q_proj"], "'q_proj' matched no linear module"),
        (["--set", "train.lrr=1"], "Unknown config field 'train.lrr'"),
    ],
)
def test_invalid_input_exits_2_without_run_folder(extra, expected, capsys, tmp_path, data_dir):
    output = tmp_path / "run"
    code, _, err = run_cli(capsys, *smoke(data_dir, output, *extra))
    assert code == 2
    assert expected in err
    assert err.count("\n") == 1
    assert not output.exists()


def test_valid_names_are_listed(capsys, tmp_path, data_dir):
    _, _, err = run_cli(capsys, *smoke(data_dir, tmp_path / "run", "--scorer", "nope"))
    assert "Valid names: adalora, ig, ig_snr, igu_sampled, magnitude, random, sensitivity" in err


def test_missing_data_folder(capsys, tmp_path):
    code, _, err = run_cli(capsys, *smoke(str(tmp_path / "nowhere"), tmp_path / "run"))
    assert code == 2
    assert "nowhere' (from data_dir) does not exist" in err


def test_incomplete_data_folder(capsys, tmp_path):
    folder = tmp_path / "data" / "glue" / "SST-2"
    folder.mkdir(parents=True)
    (folder / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\n")
    code, _, err = run_cli(capsys, *smoke(str(tmp_path / "data"), tmp_path / "run"))
    assert code == 2
    assert str(folder / "dev.tsv") in err


def test_nan_loss_marks_run_failed(capsys, tmp_path, data_dir):
    output = tmp_path / "run"
    code, _, err = run_cli(capsys, *smoke(data_dir, output, "--set", "train.lr=1e30", "--set", "train.max_grad_norm=none"))
    assert code == 1
    assert "at optimizer step" in err
    status = json.loads((output / "status.json").read_text())
    assert status["status"] == "failed"
    assert "NonFiniteLossError" in status["error"]
    assert not (output / "metrics.json").exists()
    assert json.loads((output / "config.json").read_text())["train"]["lr"] == 1e30


PLUGIN = textwrap.dedent(
    '''
    import torch
    from igu_suite.scoring import ImportanceScorer


    class LayerOrderScorer(ImportanceScorer):
        """Prefers later modules: score = module index."""

        name = "layer_order"
        summary = "Later modules first (test plug-in)."

        def observe(self, step, loss_closure):
            pass

        def triplet_scores(self):
            return {m.name: torch.full((m.rank,), float(i)) for i, m in enumerate(self.adapters)}
    '''
)


def test_dotted_path_plugin_scorer_runs(capsys, tmp_path, data_dir, monkeypatch):
    (tmp_path / "my_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    output = tmp_path / "run"
    code, out, err = run_cli(capsys, *smoke(data_dir, output, "--scorer", "my_plugin:LayerOrderScorer"))
    assert code == 0, err
    assert json.loads((output / "status.json").read_text())["status"] == "finished"
    metrics = json.loads((output / "metrics.json").read_text())
    ranks = list(metrics["final_ranks"].values())
    # MiniLM: 36 modules of rank 4 pruned to 72 triplets, so the last 18 modules keep all 4.
    assert ranks[:18] == [0] * 18
    assert ranks[18:] == [4] * 18


def test_console_script_lists_scorers():
    result = subprocess.run([sys.executable, "-m", "igu_suite", "scorers"], capture_output=True, text=True, check=True)
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"adalora", "ig", "ig_snr", "igu_sampled", "magnitude", "random", "sensitivity"} <= set(names)


def test_two_stage_reports_both_stages(capsys, tmp_path, data_dir):
    output = tmp_path / "run"
    code, _, err = run_cli(capsys, *smoke(data_dir, output, "--two-stage", "--set", "train.grad_accum_steps=2"))
    assert code == 0, err
    metrics = json.loads((output / "metrics.json").read_text())
    assert "accuracy" in metrics["stage1_metrics"]
    assert "accuracy" in metrics["metrics"]
    assert metrics["stage2_wall_seconds"] > 0
    assert sum(metrics["final_ranks"].values()) == 2 * 36
    log = (output / "train_log.csv").read_text().splitlines()
    assert len(log) == 1 + 10  # header and one row per optimizer step, not per micro-batch


def test_auto_preset_picks_lm_cpu_for_causal_tasks(capsys):
    code, out, _ = run_cli(capsys, "config", "--task", "boolq")
    assert code == 0
    config = json.loads(out)
    assert config["preset"] == "lm-cpu"
    assert config["model"] == "smollm2"
