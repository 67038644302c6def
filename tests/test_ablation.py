"""Ablation ground truth on a tiny BERT: exact zeros, restored state, samples, checkpoints, rows."""

import copy

import pytest
import torch

from igu_suite.ablation import (
    AblationRecorder,
    HeldOutSet,
    measure_ablation,
    resolve_checkpoints,
    select_held_out_rows,
)
from igu_suite.ablation_config import AblationConfig
from igu_suite.adapters import attach_adapters
from igu_suite.config import AdapterConfig, RunConfig, apply_overrides
from igu_suite.tasks import get_task
from igu_suite.training import StepRecord, TrainResult

CPU = torch.device("cpu")


@pytest.fixture
def adapted(tiny_model, tiny_batch):
    """A tiny BERT with rank-3 adapters whose triplets all change the output, and two held-out batches."""
    config = AdapterConfig(init_rank=3, target_rank=1, target_modules=["query", "value"])
    model, adapters = attach_adapters(tiny_model, config, total_steps=10, task_type="SEQ_CLS")
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module, role, parameter in adapters.named_parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * (1.0 if role == "singular_values" else 2.0))
    second = {key: value.clone() for key, value in tiny_batch.items()}
    second["labels"] = 1 - second["labels"]
    held_out = HeldOutSet([tiny_batch, second], record={})
    return model, adapters, held_out


def triplet_rows(measurement):
    return {(row["module"], row["triplet"]): row for row in measurement.rows if row["kind"] == "triplet"}


def test_zero_singular_value_changes_loss_by_exactly_zero(adapted):
    model, adapters, held_out = adapted
    target = adapters.modules[1]
    with torch.no_grad():
        target.parameter("singular_values")[2] = 0.0
    measurement = measure_ablation(model, adapters, get_task("sst2"), held_out, step=5, device=CPU)
    rows = triplet_rows(measurement)
    assert rows[(target.name, 2)]["loss_increase"] == 0.0
    assert rows[(target.name, 2)]["singular_value"] == 0.0
    others = [row["loss_increase"] for key, row in rows.items() if key != (target.name, 2)]
    assert all(increase != 0.0 for increase in others)


def test_masked_triplets_are_skipped_and_count_zero(adapted):
    model, adapters, held_out = adapted
    masks = adapters.masks()
    first = adapters.modules[0].name
    masks[first][:] = False
    masks[adapters.modules[1].name][0] = False
    adapters.set_masks(masks)
    measurement = measure_ablation(model, adapters, get_task("sst2"), held_out, step=5, device=CPU)
    rows = triplet_rows(measurement)
    assert (adapters.modules[1].name, 0) not in rows
    assert not any(module == first for module, _ in rows)
    assert len(rows) == 3 * len(adapters) - 4
    module_rows = {row["module"]: row for row in measurement.rows if row["kind"] == "module"}
    assert module_rows[first]["measured"] == 0
    assert module_rows[first]["loss_increase"] == 0.0
    assert module_rows[adapters.modules[1].name]["active_triplets"] == 2


@pytest.mark.parametrize("mask_mode", ["hard", "peft"])
def test_state_is_restored(tiny_model, tiny_batch, mask_mode):
    config = AdapterConfig(init_rank=3, target_rank=1, mask_mode=mask_mode, target_modules=["query", "value"])
    model, adapters = attach_adapters(tiny_model, config, total_steps=10, task_type="SEQ_CLS")
    with torch.no_grad():
        for module in adapters:
            module.parameter("singular_values").fill_(0.5)
    masks = adapters.masks()
    masks[adapters.modules[0].name][1] = False
    adapters.set_masks(masks)
    before_values = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    before_buffers = {m.name: m.layer.triplet_mask.clone() for m in adapters}
    model.train()
    measure_ablation(model, adapters, get_task("sst2"), HeldOutSet([tiny_batch], {}), step=3, device=CPU)
    assert model.training
    for name, kept in masks.items():
        assert torch.equal(adapters.masks()[name], kept)
    for module in adapters:
        assert torch.equal(module.layer.triplet_mask, before_buffers[module.name])
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before_values[name]), name


def test_sample_is_seeded_and_counts_passes(adapted):
    model, adapters, held_out = adapted
    task = get_task("sst2")
    first = measure_ablation(model, adapters, task, held_out, step=5, device=CPU, max_triplets=4, max_modules=2, seed=3)
    again = measure_ablation(model, adapters, task, held_out, step=5, device=CPU, max_triplets=4, max_modules=2, seed=3)
    assert list(triplet_rows(first)) == list(triplet_rows(again))
    assert len(triplet_rows(first)) == 4
    assert first.summary["measured_modules"] == 2
    # Two batches per loss: the baseline, four triplets and two modules.
    assert first.summary["forward_passes"] == 2 * (1 + 4 + 2)
    assert first.summary["active_triplets"] == 3 * len(adapters)


def test_module_ablation_matches_masking_every_triplet(adapted):
    model, adapters, held_out = adapted
    task = get_task("sst2")
    measurement = measure_ablation(model, adapters, task, held_out, step=5, device=CPU)
    module = adapters.modules[2]
    masks = adapters.masks()
    masks[module.name][:] = False
    reference = copy.deepcopy(model)
    reference_adapters = [m for m in reference.modules() if hasattr(m, "triplet_mask")]
    with torch.no_grad():
        reference_adapters[2].triplet_mask.zero_()
    reference.eval()
    expected = 0.0
    with torch.no_grad():
        for batch in held_out.batches:
            expected += float(task.compute_loss(reference, batch)) / 2
    row = next(r for r in measurement.rows if r["kind"] == "module" and r["module"] == module.name)
    assert row["loss"] == pytest.approx(expected, abs=1e-6)


def test_checkpoints_from_fractions():
    allocation_steps = list(range(110, 451, 10))
    # 0.5 lands on 275, halfway between 270 and 280: the earlier one wins.
    assert resolve_checkpoints(allocation_steps, 100, 600, [0.5, 1.0], None) == [270, 450]
    assert resolve_checkpoints(allocation_steps, 100, 600, [0.0, 0.0], None) == [110]
    assert resolve_checkpoints(allocation_steps, 100, 600, [0.5], [600, 300]) == [300, 600]
    with pytest.raises(ValueError, match="outside the run's optimizer steps 1..600"):
        resolve_checkpoints(allocation_steps, 100, 600, [0.5], [601])


def test_held_out_rows_avoid_training_rows():
    examples = [{"text_a": f"sentence {i}", "text_b": None, "label": i % 2} for i in range(10)]
    training = examples[:6]
    rows = select_held_out_rows(examples, training, 3, seed=0)
    assert len(set(rows)) == 3
    assert set(rows) <= {6, 7, 8, 9}
    assert select_held_out_rows(examples, training, 3, seed=0) == rows
    # Without a subset every row is a candidate.
    assert len(select_held_out_rows(examples, examples, 10, seed=0)) == 10
    with pytest.raises(ValueError, match="only 4 training-split rows"):
        select_held_out_rows(examples, training, 5, seed=0)


def test_measuring_time_is_left_out():
    result = TrainResult(steps=[StepRecord(step, 0.5, 0.5, 1e-3, 10, 2.0, 0, 1.0) for step in (1, 2, 3)],
                         wall_seconds=20.0)
    recorder = AblationRecorder(RunConfig(), None, None, None, None, CPU, None, checkpoints=[2],
                                seconds_by_step={2: 1.5})
    recorder.exclude_from_timing(result)
    assert [record.seconds for record in result.steps] == [2.0, 0.5, 2.0]
    assert result.wall_seconds == 18.5


def test_config_section_parses_overrides():
    config = apply_overrides(RunConfig(), ["ablation.fractions=0.25,1", "ablation.steps=300", "ablation.max_triplets=none"])
    assert config.ablation.fractions == [0.25, 1.0]
    assert config.ablation.steps == [300]
    assert config.ablation.max_triplets is None
    with pytest.raises(ValueError, match=r"ablation.fractions must lie in \[0, 1\]"):
        AblationConfig(fractions=[1.5])
    with pytest.raises(ValueError, match="ablation.batches must be at least 1"):
        AblationConfig(batches=0)
