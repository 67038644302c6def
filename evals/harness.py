"""lm-evaluation-harness on the in-memory model, online or on local files.

Online (no data folder), tasks are lm-eval's built-in ones by name and their data comes
from the Hugging Face hub. Offline, each task is lm-eval's own YAML config with only the
dataset source replaced. The local files are converted to the hub schema
(:mod:`evals.local_data`) and written as JSON lines under the cache folder. The config then
points ``dataset_path: json`` at them by absolute path, because lm-eval would resolve a
relative path against the working directory. Prompts, choices, targets and metrics stay
lm-eval's.

Where the data folder has only an evaluation split, a fixed split (seed 0, the same for
every run) keeps a third of the documents for evaluation and trains on the rest. The
offline task then evaluates on that third only. :func:`split_note` returns which applies.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import torch

from igu_suite.models import cache_dir
from igu_suite.runfolder import write_text_atomic

from . import local_data
from .local_data import Document

logger = logging.getLogger(__name__)

SPLIT_SEED = 0
EVAL_FRACTION = 1 / 3
# Keys of an lm-eval task config that name the data source and splits; offline configs
# change only these.
SOURCE_KEYS = ("dataset_path", "dataset_name", "dataset_kwargs", "training_split", "validation_split",
               "test_split", "fewshot_split")


@dataclass(frozen=True)
class LocalSource:
    """Location of one lm-eval task's documents in the data folder."""

    read_train: Callable[[Path], list[Document]] | None  # None: split the evaluation file
    read_eval: Callable[[Path], list[Document]]
    eval_split: str  # the lm-eval split the task evaluates on: "test" or "validation"
    note: str


def _under(relative: str, reader: Callable[[Path], list[Document]]) -> Callable[[Path], list[Document]]:
    return lambda data_dir: reader(data_dir / relative)


LOCAL_SOURCES: dict[str, LocalSource] = {
    "arc_easy": LocalSource(
        _under("mc/arc_easy/ARC-Easy-Dev.jsonl", local_data.read_arc),
        _under("mc/arc_easy/ARC-Easy-Test.jsonl", local_data.read_arc), "test",
        "trains on ARC-Easy's official validation split (570 questions; the train split is not in the "
        "data folder) and evaluates on the official test split (2,376)"),
    "arc_challenge": LocalSource(
        _under("mc/arc_challenge/ARC-Challenge-Dev.jsonl", local_data.read_arc),
        _under("mc/arc_challenge/ARC-Challenge-Test.jsonl", local_data.read_arc), "test",
        "trains on ARC-Challenge's official validation split (299) and evaluates on the official test split (1,172)"),
    "openbookqa": LocalSource(
        _under("mc/openbookqa/dev.tsv", local_data.read_openbookqa),
        _under("mc/openbookqa/test.tsv", local_data.read_openbookqa), "test",
        "trains on OpenBookQA's official validation split (500) and evaluates on the official test split (500)"),
    "boolq": LocalSource(None, _under("mc/boolq/val.jsonl", local_data.read_boolq), "validation",
                         "splits BoolQ's validation set (3,270) with seed 0: one third evaluates, the rest trains"),
    "piqa": LocalSource(None, _under("mc/piqa", local_data.read_piqa), "validation",
                        "splits PIQA's validation set (1,838) with seed 0: one third evaluates, the rest trains"),
    "social_iqa": LocalSource(None, _under("mc/siqa", local_data.read_siqa), "validation",
                              "splits SIQA's dev set (1,954) with seed 0: one third evaluates, the rest trains"),
    "winogrande": LocalSource(None, _under("mc/winogrande", local_data.read_winogrande), "validation",
                              "splits WinoGrande's dev set (1,267) with seed 0: one third evaluates, the rest trains"),
    "hellaswag": LocalSource(None, _under("mc/hellaswag/hellaswag_val_full.txt", local_data.read_hellaswag),
                             "validation",
                             "splits HellaSwag's validation set (10,042) with seed 0: one third evaluates, the rest "
                             "trains; ctx_b is not capitalized in the local file"),
    "gsm8k": LocalSource(_under("gsm8k/train.jsonl", local_data.read_gsm8k),
                         _under("gsm8k/test.jsonl", local_data.read_gsm8k), "test",
                         "trains on GSM8K's train split (7,473) and evaluates on its test split (1,319)"),
}


def split_note(task: str, data_dir: str | None) -> str:
    if data_dir is None:
        return f"lm-eval's {task} from the Hugging Face hub: its training split trains, its evaluation split evaluates"
    return LOCAL_SOURCES[task].note


# Folders under lm_eval/tasks with the YAML configs of the tasks this suite trains on. Indexing
# only these takes a second; indexing all of lm-eval's tasks takes most of a minute.
_TASK_FOLDERS = {
    "arc_easy": "arc", "arc_challenge": "arc", "boolq": "super_glue/boolq", "piqa": "piqa",
    "social_iqa": "siqa", "openbookqa": "openbookqa", "winogrande": "winogrande", "hellaswag": "hellaswag",
    "gsm8k": "gsm8k",
}


@lru_cache(maxsize=None)
def _manager(folders: tuple[str, ...] | None):
    import lm_eval.tasks
    from lm_eval.tasks import TaskManager

    if folders is None:
        return TaskManager()
    root = Path(lm_eval.tasks.__file__).parent
    return TaskManager(include_defaults=False, include_path=[str(root / folder) for folder in folders])


def task_manager(names: list[str] | None = None):
    """Return an lm-eval TaskManager that indexes ``names``, or all of lm-eval's tasks if needed."""
    if names is not None and all(name in _TASK_FOLDERS for name in names):
        return _manager(tuple(sorted({_TASK_FOLDERS[name] for name in names})))
    return _manager(None)


def check_task_name(name: str) -> None:
    """Raise ValueError for a name that lm-eval does not know, listing close names."""
    if name in _TASK_FOLDERS:
        return
    manager = task_manager()
    if name in manager.all_tasks:
        return
    close = difflib.get_close_matches(name, manager.all_subtasks, n=5, cutoff=0.6)
    hint = f" Close names: {', '.join(close)}." if close else ""
    raise ValueError(f"Unknown lm-eval task {name!r}.{hint} `python -m lm_eval ls tasks` lists them all.")


def builtin_config(name: str) -> dict[str, Any]:
    """Return lm-eval's own YAML config of task ``name`` as a dict (functions resolved)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    check_task_name(name)
    entry = task_manager([name]).task_index[name]
    if entry.yaml_path is None:
        raise ValueError(f"lm-eval task {name!r} has no YAML config, so it cannot be pointed at local files.")
    config = load_yaml(entry.yaml_path, resolve_func=True)
    for key in ("tag", "group", "task_list"):
        config.pop(key, None)
    return config


def local_documents(name: str, data_dir: str) -> dict[str, list[Document]]:
    """Return {"train": [...], "eval": [...]} documents of task ``name`` from the data folder."""
    if name not in LOCAL_SOURCES:
        raise ValueError(
            f"No local data for lm-eval task {name!r}; offline tasks are {', '.join(sorted(LOCAL_SOURCES))}. "
            "Leave --data-dir unset to use lm-eval's hub datasets."
        )
    source = LOCAL_SOURCES[name]
    folder = Path(data_dir)
    evaluation = source.read_eval(folder)
    if source.read_train is not None:
        return {"train": source.read_train(folder), "eval": evaluation}
    order = list(range(len(evaluation)))
    random.Random(SPLIT_SEED).shuffle(order)
    cut = int(len(order) * EVAL_FRACTION)
    held_out = sorted(order[:cut])
    rest = sorted(order[cut:])
    return {"train": [evaluation[i] for i in rest], "eval": [evaluation[i] for i in held_out]}


def _write_jsonl_atomic(path: Path, documents: list[Document]) -> None:
    write_text_atomic(path, "".join(json.dumps(document, ensure_ascii=False) + "\n" for document in documents))


def offline_config(name: str, data_dir: str) -> dict[str, Any]:
    """Return lm-eval's config of ``name`` with its dataset source replaced by local files."""
    config = builtin_config(name)
    documents = local_documents(name, data_dir)
    digest = hashlib.sha256(json.dumps(documents, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_dir() / "lm_eval_data" / name / digest
    files = {}
    for split, docs in (("train", documents["train"]), (LOCAL_SOURCES[name].eval_split, documents["eval"])):
        path = folder / f"{split}.jsonl"
        if not path.is_file():
            _write_jsonl_atomic(path, docs)
        files[split] = str(path.resolve())
    eval_split = LOCAL_SOURCES[name].eval_split
    config.update({
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": files},
        "training_split": "train",
        "validation_split": "validation" if eval_split == "validation" else None,
        "test_split": "test" if eval_split == "test" else None,
    })
    if config.get("fewshot_split") is not None:
        config["fewshot_split"] = "train"
    return config


def build_task(name: str, data_dir: str | None):
    """Return an lm-eval ConfigurableTask for ``name``: offline with a data folder, else from the hub."""
    from lm_eval.api.task import ConfigurableTask

    config = offline_config(name, data_dir) if data_dir else builtin_config(name)
    return ConfigurableTask(config=config)


def evaluation_documents(task) -> list[Document]:
    """Return the documents lm-eval evaluates a task on (test split, else validation)."""
    if task.has_test_docs():
        return list(task.test_docs())
    return list(task.validation_docs())


def render_pair(task, document: Document) -> tuple[str, str]:
    """Return (prompt, answer) for training, rendered by lm-eval's own templates (zero-shot).

    The answer is what lm-eval scores as correct: the target delimiter and the gold choice
    for multiple choice, or the delimiter and the target text for generation tasks. For
    tasks whose ``doc_to_text`` returns a choice index (WinoGrande), the prompt is the gold
    context and the answer the shared continuation, as lm-eval scores it.
    """
    config = task.config
    delimiter = config.target_delimiter
    description = config.description or ""
    text = task.doc_to_text(document)
    target = task.doc_to_target(document)
    if config.output_type == "multiple_choice":
        choices = task.doc_to_choice(document)
        if isinstance(text, int):
            return description + choices[text], delimiter + str(target)
        index = target if isinstance(target, int) else choices.index(target)
        return description + text, delimiter + str(choices[index])
    return description + text, delimiter + str(target)


def run_harness(
    model: torch.nn.Module,
    tokenizer: Any,
    task_names: list[str],
    data_dir: str | None,
    limit: int | None,
    num_fewshot: int,
    batch_size: int,
    seed: int,
    device: torch.device,
) -> dict[str, Any]:
    """Evaluate the in-memory ``model`` with lm-eval's HFLM and ``simple_evaluate``.

    ``model`` is a transformers model (for a peft model, pass ``get_base_model()``: peft's
    layers sit inside it). The request cache is off, so nothing is reused from an earlier
    checkpoint, and the model is back in the mode it was in afterwards. Returns the settings
    and, per task, lm-eval's metrics with their standard errors.
    """
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    for name in task_names:
        check_task_name(name)
    tasks = [offline_config(name, data_dir) if data_dir else name for name in task_names]
    was_training = model.training
    try:
        harness_model = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=str(device))
        output = simple_evaluate(
            model=harness_model, tasks=tasks, num_fewshot=num_fewshot, limit=limit, use_cache=None,
            cache_requests=False, log_samples=False, bootstrap_iters=1000, random_seed=seed,
            numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed,
            task_manager=task_manager(task_names),
        )
    finally:
        model.train(was_training)
    record: dict[str, Any] = {
        "settings": {"tasks": task_names, "num_fewshot": num_fewshot, "limit": limit, "batch_size": batch_size,
                     "seed": seed, "source": "local files" if data_dir else "hub", "data_dir": data_dir},
        "tasks": {},
    }
    for name in task_names:
        raw = output["results"][name]
        metrics = {key.replace(",", "/"): value for key, value in raw.items() if key != "alias"}
        record["tasks"][name] = {
            "version": output["versions"].get(name),
            "num_fewshot": output["n-shot"].get(name),
            "samples": output.get("n-samples", {}).get(name, {}).get("effective"),
            "metrics": metrics,
        }
    return record
