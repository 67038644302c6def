"""Causal-LM tasks: train on lm-eval's prompt/answer pairs, evaluate with lm-evaluation-harness.

Training examples are rendered by lm-eval's own templates (:func:`evals.harness.render_pair`),
so the adapters learn the exact continuation that lm-eval later scores. The loss is the
causal-LM cross-entropy on the answer tokens only; prompt and padding positions are
ignored (label -100).

Batches are padded on the left, so every answer ends at the last position. The model then
computes vocabulary logits only for the last positions that hold answer tokens
(``logits_to_keep``), which skips most of the language-model head's work.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from igu_suite.config import EvalConfig
from igu_suite.models import load_causal_lm
from igu_suite.tasks import ForwardFunction, Task

from . import harness

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100  # positions that the loss skips (prompt and padding)


def flatten_metrics(record: dict[str, Any], main_task: str) -> dict[str, float]:
    """Turn lm-eval's per-task metrics into flat names: ``acc``, ``acc_stderr``, ``boolq/acc``, ...

    lm-eval keys are ``metric,filter``. The filter is dropped for ``none`` and for
    ``strict-match`` (GSM8K's official one); other filters become a suffix.
    """
    flat: dict[str, float] = {}
    for task, result in record["tasks"].items():
        prefix = "" if task == main_task else f"{task}/"
        for key, value in result["metrics"].items():
            metric, separator, filter_name = key.partition("/")
            if not separator:  # bookkeeping such as sample_len, not a metric
                continue
            name = metric if filter_name in ("none", "strict-match") else f"{metric}_{filter_name}"
            if isinstance(value, (int, float)):
                flat[prefix + name] = float(value)
    return flat


class CausalLMTask(Task):
    """An lm-eval task used for training a causal LM and for evaluating it."""

    peft_task_type = "CAUSAL_LM"
    train_split = "train"
    default_eval_split = "eval"

    def __init__(self, name: str, main_metric: str = "acc") -> None:
        self.name = name  # type: ignore[misc]
        self.main_metric = main_metric  # type: ignore[misc]

    def load_examples(self, split: str, data_dir: str | None) -> list[dict[str, Any]]:
        if split not in ("train", "eval"):
            raise ValueError(f"Task {self.name} has the splits 'train' and 'eval', not {split!r}.")
        task = harness.build_task(self.name, data_dir)
        if split == "train":
            if not task.has_training_docs():
                raise ValueError(f"lm-eval task {self.name} has no training split to train on.")
            documents = list(task.training_docs())
        else:
            documents = harness.evaluation_documents(task)
        examples = []
        for index, document in enumerate(documents):
            prompt, answer = harness.render_pair(task, document)
            examples.append({"prompt": prompt, "answer": answer, "doc_id": index})
        return examples

    def data_files(self, split: str, data_dir: str | None) -> list[Path]:
        if data_dir is None:
            return []
        config = harness.offline_config(self.name, data_dir)
        return [Path(path) for path in config["dataset_kwargs"]["data_files"].values()]

    def describe_split(self, split: str, data_dir: str | None) -> str | None:
        return harness.split_note(self.name, data_dir)

    def build_model(self, model_name: str) -> tuple[nn.Module, Any]:
        return load_causal_lm(model_name)

    def encode(self, tokenizer: Any, examples: list[dict[str, Any]], max_length: int) -> list[dict[str, Any]]:
        prompts = tokenizer([e["prompt"] for e in examples], add_special_tokens=True)["input_ids"]
        answers = tokenizer([e["answer"] for e in examples], add_special_tokens=False)["input_ids"]
        features = []
        for prompt_ids, answer_ids in zip(prompts, answers):
            answer_ids = (answer_ids + [tokenizer.eos_token_id])[: max_length - 1]
            prompt_ids = prompt_ids[-(max_length - len(answer_ids)):]  # keep the end of a long prompt
            features.append({
                "input_ids": prompt_ids + answer_ids,
                "labels": [IGNORE_INDEX] * len(prompt_ids) + answer_ids,
            })
        return features

    def collate(self, tokenizer: Any, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        input_ids = torch.full((len(features), width), tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, feature in enumerate(features):
            length = len(feature["input_ids"])
            input_ids[row, width - length :] = torch.tensor(feature["input_ids"])
            labels[row, width - length :] = torch.tensor(feature["labels"])
            attention_mask[row, width - length :] = 1
        # Positions count from each sequence's first real token, as without padding.
        position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids,
                "labels": labels}

    def compute_loss(self, forward: ForwardFunction, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        labels = batch["labels"]  # (batch, length), answers at the end of every row
        length = labels.shape[1]
        first_answer = int((labels != IGNORE_INDEX).float().argmax(dim=1).min())
        keep = min(length, length - first_answer + 1)  # logits at position p predict the token at p + 1
        logits = forward(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         position_ids=batch["position_ids"], logits_to_keep=keep).logits  # (batch, keep, vocab)
        predicted = logits[:, :-1].float()
        targets = labels[:, length - keep + 1 :]  # (batch, keep - 1)
        return F.cross_entropy(predicted.reshape(-1, predicted.shape[-1]), targets.reshape(-1),
                               ignore_index=IGNORE_INDEX)

    def evaluate(self, model: nn.Module, tokenizer: Any, examples: list[dict[str, Any]], config: EvalConfig,
                 device: torch.device, data_dir: str | None = None, seed: int = 0) -> dict[str, Any]:
        base_model = model.get_base_model() if hasattr(model, "get_base_model") else model
        task_names = config.lm_eval_tasks or [self.name]
        record = harness.run_harness(base_model, tokenizer, task_names, data_dir, config.subset,
                                     config.num_fewshot, config.batch_size, seed, device)
        metrics: dict[str, Any] = flatten_metrics(record, self.name)
        metrics["details"] = record
        return metrics


# lm-eval task name -> main metric of its results.
CAUSAL_TASKS = {
    "arc_easy": "acc",
    "arc_challenge": "acc",
    "openbookqa": "acc",
    "boolq": "acc",
    "piqa": "acc",
    "social_iqa": "acc",
    "winogrande": "acc",
    "hellaswag": "acc",
    "gsm8k": "exact_match",
}


def register_causal_tasks(registry) -> None:
    """Register the causal-LM tasks (entry point of the ``igu_suite.tasks`` group)."""
    for name, main_metric in CAUSAL_TASKS.items():
        registry.register(name, CausalLMTask(name, main_metric))
