"""Evaluate a saved run's adapter, or a base model, with lm-evaluation-harness."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

from .models import load_causal_lm, pick_device
from .runfolder import read_json, write_json
from .tasks import resolve_data_dir

logger = logging.getLogger(__name__)


def evaluate_saved(
    run_dir: Path | None,
    model: str | None,
    tasks: list[str],
    limit: int | None,
    num_fewshot: int,
    batch_size: int,
    seed: int,
    data_dir: str | None,
    output: Path | None,
    device: str = "auto",
) -> Path:
    """Evaluate a run's saved adapter (or the base ``model``) and return the path of the results JSON.

    A run is loaded as its base model plus ``peft.PeftModel.from_pretrained(run_dir / "adapter")``,
    with the rank pattern the run ended with. Raises ValueError when the model is not a
    causal LM or a task name is unknown, and FileNotFoundError for a missing run or data file.
    """
    from evals.harness import check_task_name, offline_config, run_harness

    if not tasks:
        raise ValueError("No lm-eval task given; pass --lm-eval with names such as arc_easy,boolq.")
    for name in tasks:
        check_task_name(name)

    resolved_data_dir = data_dir
    if run_dir is not None:
        config_path = run_dir / "config.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"{config_path} not found: {run_dir} is not a run folder.")
        config = read_json(config_path)
        model_name = config["model"]
        resolved_data_dir = data_dir or config.get("resolved", {}).get("data_dir")
        if not (run_dir / "adapter" / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{run_dir / 'adapter'} has no saved adapter; is the run finished?")
    else:
        model_name = model
    resolved_data_dir = resolve_data_dir(resolved_data_dir)
    if resolved_data_dir is not None:
        for name in tasks:  # fail on missing local files before loading the model
            offline_config(name, resolved_data_dir)

    torch_device = pick_device(device)
    base, tokenizer = load_causal_lm(model_name)
    if run_dir is not None:
        from peft import PeftModel

        with warnings.catch_warnings():
            # peft 0.21 checks AdaLoRA's rank_pattern (kept-triplet lists) as if it were LoRA's
            # per-module ranks, so it warns that no key matched. The pattern is applied all the same.
            warnings.filterwarnings("ignore", message="The following rank_pattern keys did not match")
            evaluated = PeftModel.from_pretrained(base, run_dir / "adapter").get_base_model()
    else:
        evaluated = base
    evaluated.to(torch_device)
    record = run_harness(evaluated, tokenizer, tasks, resolved_data_dir, limit, num_fewshot, batch_size, seed,
                         torch_device)
    record["model"] = model_name
    record["run_dir"] = str(run_dir) if run_dir is not None else None

    if output is None:
        output = run_dir / "eval" if run_dir is not None else Path("runs") / "eval" / re.sub(r"[^\w.-]+", "_", model_name)
    path = output / f"lm_eval_{'_'.join(tasks)}.json"
    write_json(path, record)
    return path
