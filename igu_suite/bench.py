"""Benchmark: seconds per optimizer step of every scorer, and of peft's own AdaLoRA loop.

    python -m igu_suite.bench --data-dir ../shared/data          (or: make bench)

Every loop trains the same model (same seed, so the same initial adapters) on the same
batches for ``--steps`` optimizer steps with allocations every 5 steps, and the first
``--skip`` steps are left out of the mean. Prints each scorer's time per step over
``adalora``'s, and this suite's ``adalora`` loop over peft's ``update_and_allocate`` loop.
Ratios are for one run on one machine; repeat to see the noise.
"""

from __future__ import annotations

import argparse
import copy
import logging
import statistics
import time
import warnings

import torch
from peft import AdaLoraConfig, get_peft_model

from .adapters import resolve_target_modules
from .config import RunConfig, apply_overrides
from .presets import preset_config
from .run import PreparedData, build_stage, prepare_data, seed_everything
from .training import infinite_batches, make_train_loader, train

logger = logging.getLogger(__name__)

DEFAULT_SCORERS = ["adalora", "magnitude", "sensitivity", "random", "igu_sampled", "ig", "ig_snr"]


def bench_config(args: argparse.Namespace) -> RunConfig:
    config = preset_config("cpu", "sst2")
    overrides = [
        f"train.steps={args.steps}",
        f"train.train_subset={args.steps * config.train.batch_size}",
        "train.progress=false",
        "schedule.t_init=5",
        "schedule.t_final=5",
        "schedule.mask_interval=5",
        "scorer.n_steps=8",
        "scorer.score_every=10",
    ]
    if args.data_dir:
        overrides.append(f"data_dir={args.data_dir}")
    return apply_overrides(config, overrides)


def time_scorer(config: RunConfig, data: PreparedData, scorer: str, skip: int) -> tuple[float, float]:
    """Return (mean seconds per step after ``skip`` steps, extra passes per step) of one scorer."""
    config = copy.deepcopy(config)
    config.scorer.name = scorer
    device = torch.device("cpu")
    stage = build_stage(config, data, device)
    features = data.task.encode(stage.tokenizer, data.train_examples, config.train.max_length)
    result = train(stage.model, stage.adapters, data.task, features, stage.tokenizer, config, data.total_steps,
                   device, scorer=stage.scorer, allocator=stage.allocator)
    seconds = [record.seconds for record in result.steps[skip:]]
    passes = sum(record.extra_passes for record in result.steps) / len(result.steps)
    return statistics.mean(seconds), passes


def time_peft_loop(config: RunConfig, data: PreparedData, skip: int) -> float:
    """Return mean seconds per step of peft's AdaLoRA in a plain torch loop on the same batches."""
    seed_everything(config.seed)
    model, tokenizer = data.task.build_model(config.model)
    targets = resolve_target_modules(model, config.adapter.target_modules)
    peft_config = AdaLoraConfig(
        init_r=config.adapter.init_rank, target_r=config.adapter.target_rank, lora_alpha=config.adapter.lora_alpha,
        orth_reg_weight=config.adapter.orth_reg_weight, target_modules=targets, total_step=data.total_steps,
        tinit=config.schedule.t_init, tfinal=config.schedule.t_final, deltaT=config.schedule.mask_interval,
        beta1=config.scorer.beta1, beta2=config.scorer.beta2, task_type="SEQ_CLS",
    )
    peft_model = get_peft_model(model, peft_config)
    peft_model.train()
    features = data.task.encode(tokenizer, data.train_examples, config.train.max_length)
    batches = infinite_batches(make_train_loader(data.task, features, tokenizer, config.train, config.seed))
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=config.train.lr)
    seconds = []
    for step in range(1, data.total_steps + 1):
        start = time.perf_counter()
        batch = next(batches)
        outputs = peft_model(**batch)  # labels in the batch: peft adds its orthogonal penalty
        outputs.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in peft_model.parameters() if p.requires_grad],
                                       config.train.max_grad_norm)
        optimizer.step()
        peft_model.base_model.update_and_allocate(step)
        optimizer.zero_grad(set_to_none=True)
        seconds.append(time.perf_counter() - start)
    return statistics.mean(seconds[skip:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="Folder with glue/SST-2/{train,dev}.tsv (default: $IGU_DATA_DIR).")
    parser.add_argument("--steps", type=int, default=40, help="Optimizer steps per loop. Default: 40.")
    parser.add_argument("--skip", type=int, default=5, help="First steps left out of the mean. Default: 5.")
    parser.add_argument("--scorers", default=",".join(DEFAULT_SCORERS), help="Comma-separated scorers to time.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")

    config = bench_config(args)
    data = prepare_data(config)
    scorers = [name for name in args.scorers.split(",") if name]
    if "adalora" not in scorers:
        scorers.insert(0, "adalora")
    print(f"SST-2, packaged MiniLM, batch {config.train.batch_size}, max length {config.train.max_length}, "
          f"{args.steps} steps (first {args.skip} skipped), {torch.get_num_threads()} torch threads, CPU")
    print(f"ig / ig_snr: n_steps {config.scorer.n_steps} every {config.scorer.score_every} steps")
    timings = {name: time_scorer(config, data, name, args.skip) for name in scorers}
    peft_seconds = time_peft_loop(config, data, args.skip)

    reference = timings["adalora"][0]
    print(f"{'loop':<22}{'s/step':>9}{'/ adalora':>11}{'extra passes/step':>19}")
    for name, (seconds, passes) in timings.items():
        print(f"{name:<22}{seconds:>9.4f}{seconds / reference:>11.3f}{passes:>19.2f}")
    print(f"{'peft AdaLoRA loop':<22}{peft_seconds:>9.4f}{peft_seconds / reference:>11.3f}{0.0:>19.2f}")
    print(f"ours adalora / peft: {reference / peft_seconds:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
