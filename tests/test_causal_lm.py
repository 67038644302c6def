"""Causal-LM tasks with the packaged SmolLM2: loss, lm-eval on the in-memory model, prompts, errors."""

import json

import pytest
import torch
import torch.nn.functional as F

from evals import harness
from evals.causal import IGNORE_INDEX, CausalLMTask, flatten_metrics
from evals.local_data import read_arc
from igu_suite.adapters import attach_adapters
from igu_suite.cli import main
from igu_suite.config import AdapterConfig, EvalConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():
    task = CausalLMTask("arc_easy")
    model, tokenizer = task.build_model("smollm2")
    return task, model, tokenizer


def test_loss_on_answer_tokens_only(smollm2, data_dir):
    task, model, tokenizer = smollm2
    examples = task.load_examples("train", data_dir)[:3]
    features = task.encode(tokenizer, examples, max_length=96)
    batch = task.collate(tokenizer, features)
    model.eval()
    with torch.no_grad():
        loss = task.compute_loss(model, batch)
        # Reference: each example alone, without padding, with the logits of every position.
        total, count = 0.0, 0
        for feature in features:
            labels = torch.tensor(feature["labels"][1:])
            logits = model(input_ids=torch.tensor([feature["input_ids"]])).logits[0, :-1]
            total += float(F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="sum"))
            count += int((labels != IGNORE_INDEX).sum())
    assert float(loss) == pytest.approx(total / count, rel=1e-5)


def test_answer_is_the_gold_choice(smollm2, data_dir):
    task, _, _ = smollm2
    first = task.load_examples("eval", data_dir)[0]
    # ARC-Easy test item Mercury_417466, answer A, rendered by lm-eval's arc_easy template.
    assert first["prompt"] == (
        "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:"
    )
    assert first["answer"] == " Sunlight is the source of energy for nearly all ecosystems."


def test_lm_eval_on_adapted_model(smollm2, data_dir):
    task, model, tokenizer = smollm2
    peft_model, adapters = attach_adapters(model, AdapterConfig(init_rank=2, target_rank=1, singular_value_init=0.1),
                                           total_steps=10, task_type="CAUSAL_LM")
    peft_model.train()
    metrics = task.evaluate(peft_model, tokenizer, [], EvalConfig(subset=4, batch_size=8), torch.device("cpu"),
                            data_dir=data_dir, seed=0)
    assert peft_model.training
    details = metrics.pop("details")
    assert set(metrics) == {"acc", "acc_stderr", "acc_norm", "acc_norm_stderr"}
    assert 0.0 <= metrics["acc"] <= 1.0
    assert details["tasks"]["arc_easy"]["num_fewshot"] == 0
    assert details["settings"]["limit"] == 4
    assert details["settings"]["source"] == "local files"


@pytest.mark.parametrize("name", sorted(harness.LOCAL_SOURCES))
def test_offline_config_changes_only_the_source(name, data_dir):
    builtin = harness.builtin_config(name)
    offline = harness.offline_config(name, data_dir)
    changed = {key for key in set(builtin) | set(offline) if builtin.get(key) != offline.get(key)}
    assert changed <= set(harness.SOURCE_KEYS)
    for path in offline["dataset_kwargs"]["data_files"].values():
        assert path.startswith("/")


# Documents as the hub datasets that lm-eval's YAML configs name store them, written out by
# hand for items that are also in the local files.
HUB_DOCUMENTS = {
    "arc_easy": {
        "id": "Mercury_417466",
        "question": "Which statement best explains why photosynthesis is the foundation of most food webs?",
        "choices": {
            "text": ["Sunlight is the source of energy for nearly all ecosystems.",
                     "Most ecosystems are found on land instead of in water.",
                     "Carbon dioxide is more available than other gases.",
                     "The producers in all ecosystems are plants."],
            "label": ["A", "B", "C", "D"],
        },
        "answerKey": "A",
    },
    "winogrande": {
        "sentence": "Sarah was a much better surgeon than Maria so _ always got the harder cases.",
        "option1": "Sarah", "option2": "Maria", "answer": "1",
    },
}


def test_arc_prompt_equals_builtin_rendering(data_dir):
    task = harness.build_task("arc_easy", data_dir)
    local = read_arc(harness.Path(data_dir) / "mc/arc_easy/ARC-Easy-Test.jsonl")[0]
    hub = HUB_DOCUMENTS["arc_easy"]
    assert task.doc_to_text(local) == task.doc_to_text(hub)
    assert task.doc_to_choice(local) == task.doc_to_choice(hub)
    assert task.doc_to_target(local) == task.doc_to_target(hub)


def test_winogrande_rebuilt_document_renders_like_hub(data_dir):
    task = harness.build_task("winogrande", data_dir)
    documents = harness.local_data.read_winogrande(harness.Path(data_dir) / "mc/winogrande")
    local = documents[1]  # "... so Maria / so Sarah always got the harder cases.", label 1
    hub = HUB_DOCUMENTS["winogrande"]
    assert task.doc_to_text(local) == task.doc_to_text(hub)
    assert task.doc_to_choice(local) == task.doc_to_choice(hub)
    assert task.doc_to_target(local) == task.doc_to_target(hub)


def test_seeded_split_is_fixed_and_disjoint(data_dir):
    first = harness.local_documents("boolq", data_dir)
    second = harness.local_documents("boolq", data_dir)
    assert first == second
    assert len(first["train"]) + len(first["eval"]) == 3270
    train_ids = {document["idx"] for document in first["train"]}
    eval_ids = {document["idx"] for document in first["eval"]}
    assert not train_ids & eval_ids


def test_flatten_metrics_names():
    record = {"tasks": {
        "gsm8k": {"metrics": {"exact_match/strict-match": 0.1, "exact_match/flexible-extract": 0.2,
                              "exact_match_stderr/strict-match": 0.01}},
        "boolq": {"metrics": {"acc/none": 0.6, "acc_stderr/none": 0.02}},
    }}
    assert flatten_metrics(record, "gsm8k") == {
        "exact_match": 0.1, "exact_match_flexible-extract": 0.2, "exact_match_stderr": 0.01,
        "boolq/acc": 0.6, "boolq/acc_stderr": 0.02,
    }


def test_unknown_lm_eval_task_lists_close_names(capsys, tmp_path):
    code = main(["eval", "--model", "smollm2", "--lm-eval", "arc_easyy", "--limit", "2", "--output", str(tmp_path)])
    assert code == 2
    assert "Unknown lm-eval task 'arc_easyy'. Close names: arc_easy" in capsys.readouterr().err


def test_encoder_model_rejected_for_causal_task(capsys, tmp_path, data_dir):
    code = main(["run", "--preset", "lm-cpu", "--model", "minilm", "--data-dir", data_dir,
                 "--output", str(tmp_path / "run"), "--no-progress"])
    assert code == 2
    assert "'minilm' (bert) is not a decoder-only causal language model" in capsys.readouterr().err


def test_missing_local_file_names_path(capsys, tmp_path):
    (tmp_path / "mc" / "arc_easy").mkdir(parents=True)
    code = main(["eval", "--model", "smollm2", "--lm-eval", "arc_easy", "--limit", "2", "--data-dir", str(tmp_path),
                 "--output", str(tmp_path / "out")])
    assert code == 2
    assert str(tmp_path / "mc/arc_easy/ARC-Easy-Test.jsonl") in capsys.readouterr().err


def test_task_without_local_data(capsys, tmp_path, data_dir):
    code = main(["eval", "--model", "smollm2", "--lm-eval", "lambada_openai", "--limit", "2", "--data-dir", data_dir,
                 "--output", str(tmp_path)])
    assert code == 2
    assert "No local data for lm-eval task 'lambada_openai'" in capsys.readouterr().err


def test_eval_command_on_trained_run(tmp_path, data_dir):
    run = tmp_path / "run"
    assert main(["run", "--preset", "lm-cpu", "--data-dir", data_dir, "--output", str(run), "--no-progress",
                 "--set", "train.steps=3", "--set", "train.batch_size=2", "--set", "schedule.t_init=1",
                 "--set", "schedule.t_final=1", "--set", "schedule.mask_interval=1", "--set", "eval.subset=2"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["main_metric"] == "acc"
    assert (run / "evaluation_details.json").is_file()
    assert main(["eval", str(run), "--lm-eval", "arc_easy", "--limit", "2", "--output", str(tmp_path / "eval")]) == 0
    record = json.loads((tmp_path / "eval" / "lm_eval_arc_easy.json").read_text())
    assert record["tasks"]["arc_easy"]["metrics"]["acc/none"] == metrics["metrics"]["acc"]
