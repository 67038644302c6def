"""The adalora scorer and the allocator against peft's own AdaLoRA RankAllocator.

Reference: peft's ``AdaLoraModel.update_and_allocate`` and ``RankAllocator`` (the installed
peft), driven by the training loop that peft's docstring prescribes: forward with labels
(peft adds the orthogonal penalty itself), backward, clip, optimizer step, scheduler step,
``update_and_allocate(step)``, ``zero_grad``. Our side is the suite's own ``train`` loop with
the ``adalora`` scorer, ``mask_mode='peft'`` and the 'peft' schedule convention. Both start
from identical weights and see identical batches, so every importance score, mask and final
parameter has to agree.
"""

from __future__ import annotations

import pytest
import torch
from peft import AdaLoraConfig, get_peft_model
from transformers import get_linear_schedule_with_warmup

from igu_suite.adapters import resolve_target_modules
from igu_suite.config import apply_overrides, warmup_steps
from igu_suite.presets import smoke_preset
from igu_suite.run import build_stage, prepare_data, seed_everything, train_stage
from igu_suite.training import infinite_batches, make_train_loader

TRAINING_SEED = 1234  # the same global RNG state for both loops, so dropout masks agree


def parity_config(data_dir: str, steps: int, t_init: int, t_final: int, interval: int, orth: float):
    return apply_overrides(
        smoke_preset("sst2"),
        [
            f"data_dir={data_dir}",
            "scorer.name=adalora",
            "adapter.mask_mode=peft",
            "schedule.convention=peft",
            f"adapter.orth_reg_weight={orth}",
            f"train.steps={steps}",
            f"schedule.t_init={t_init}",
            f"schedule.t_final={t_final}",
            f"schedule.mask_interval={interval}",
            "train.warmup_steps=2",
            "train.batch_size=4",
            "train.max_length=24",
        ],
    )


def build_reference(config, data):
    """Build the same model with peft's plain AdaLoRA, seeded as build_stage seeds ours."""
    seed_everything(config.seed)
    model, tokenizer = data.task.build_model(config.model)
    peft_config = AdaLoraConfig(
        init_r=config.adapter.init_rank,
        target_r=config.adapter.target_rank,
        lora_alpha=config.adapter.lora_alpha,
        lora_dropout=config.adapter.lora_dropout,
        orth_reg_weight=config.adapter.orth_reg_weight,
        target_modules=resolve_target_modules(model, None),
        total_step=data.total_steps,
        tinit=config.schedule.t_init,
        tfinal=config.schedule.t_final,
        deltaT=config.schedule.mask_interval,
        beta1=config.scorer.beta1,
        beta2=config.scorer.beta2,
        task_type="SEQ_CLS",
    )
    return get_peft_model(model, peft_config), tokenizer


def record_peft_scores(rank_allocator) -> list[torch.Tensor]:
    """Make peft's RankAllocator keep every triplet score it computes (the real method still runs)."""
    recorded: list[torch.Tensor] = []
    combine = rank_allocator._combine_ipt

    def combine_and_record(ipt_E, ipt_AB):
        triplet_scores = combine(ipt_E, ipt_AB)
        recorded.append(triplet_scores.detach().clone())
        return triplet_scores

    rank_allocator._combine_ipt = combine_and_record
    return recorded


def run_reference(config, data, reference, tokenizer) -> dict[int, dict]:
    """Train with peft's documented loop; return {step: {'scores': [...], 'rank_pattern': {...}}}."""
    task = data.task
    features = task.encode(tokenizer, data.train_examples, config.train.max_length)
    batches = infinite_batches(make_train_loader(task, features, tokenizer, config.train, config.seed))
    trainable = [p for p in reference.parameters() if p.requires_grad]
    adapter_group = [p for n, p in reference.named_parameters() if p.requires_grad and "lora_" in n]
    head_group = [p for n, p in reference.named_parameters() if p.requires_grad and "lora_" not in n]
    optimizer = torch.optim.AdamW(
        [{"params": adapter_group, "lr": config.train.lr}, {"params": head_group, "lr": config.train.lr}],
        weight_decay=config.train.weight_decay,
    )
    lr_scheduler = get_linear_schedule_with_warmup(
        optimizer, warmup_steps(config.train, data.total_steps), data.total_steps
    )
    recorded = record_peft_scores(reference.base_model.rankallocator)
    peft_config = reference.peft_config["default"]

    allocations = {}
    reference.train()
    torch.manual_seed(TRAINING_SEED)
    for step in range(1, data.total_steps + 1):
        batch = next(batches)
        loss = reference(**batch).loss  # task loss + γ · orthogonal penalty, added by peft
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, config.train.max_grad_norm)
        optimizer.step()
        lr_scheduler.step()
        recorded.clear()
        reference.base_model.update_and_allocate(step)
        if recorded:
            allocations[step] = {"scores": list(recorded), "rank_pattern": dict(peft_config.rank_pattern)}
        optimizer.zero_grad(set_to_none=True)
    return allocations


# (steps T, t_init, t_final, ΔT, γ): a decreasing phase with several allocations, one where
# T - t_final is not a multiple of ΔT, and one allocation at every step.
SCHEDULES = [
    (16, 3, 4, 2, 0.5),
    (15, 2, 4, 3, 0.1),
    (12, 4, 3, 1, 0.5),
]


@pytest.mark.slow
@pytest.mark.parametrize("steps, t_init, t_final, interval, orth", SCHEDULES)
def test_adalora_matches_peft_rank_allocator(data_dir, steps, t_init, t_final, interval, orth):
    config = parity_config(data_dir, steps, t_init, t_final, interval, orth)
    data = prepare_data(config)
    ours = build_stage(config, data, torch.device("cpu"))
    reference, tokenizer = build_reference(config, data)
    untrained = dict(ours.model.named_parameters())
    for name, parameter in reference.named_parameters():
        assert torch.equal(parameter, untrained[name]), f"initial {name} differs"

    torch.manual_seed(TRAINING_SEED)
    train_stage(config, data, torch.device("cpu"), ours, "ours")
    allocations = run_reference(config, data, reference, tokenizer)

    history = [allocation for allocation in ours.allocator.history if allocation.scores is not None]
    assert [a.step for a in history] == sorted(allocations)
    max_relative = 0.0
    for allocation in history:
        expected = allocations[allocation.step]
        for module, peft_scores in zip(ours.adapters, expected["scores"], strict=True):
            ours_scores = allocation.scores[module.name]
            torch.testing.assert_close(ours_scores, peft_scores.view(-1), rtol=1e-6, atol=0.0)
            relative = ((ours_scores - peft_scores.view(-1)).abs() / peft_scores.view(-1).abs().clamp_min(1e-30)).max()
            max_relative = max(max_relative, float(relative))
            peft_kept = expected["rank_pattern"][f"{module.name}.lora_E.default"]
            assert allocation.masks[module.name].tolist() == peft_kept, f"step {allocation.step} {module.name}"
        assert allocation.budget == sum(allocation.ranks.values())

    trained = dict(ours.model.named_parameters())
    for name, parameter in reference.named_parameters():
        if parameter.requires_grad:
            torch.testing.assert_close(trained[name], parameter, rtol=1e-6, atol=1e-9)
    print(f"\npeft parity T={steps}: {len(history)} allocations, max relative score difference {max_relative:.3g}")
