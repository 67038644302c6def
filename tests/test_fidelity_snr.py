"""The SNR score Ī / (Ū + ε): closed form, ranking on a real model, fp32 state under bf16."""

from __future__ import annotations

import pytest
import torch

from evals.glue import GLUE_SPECS, GlueTask
from igu_suite.adapters import attach_adapters
from igu_suite.config import AdapterConfig, ScorerConfig, apply_overrides
from igu_suite.presets import smoke_preset
from igu_suite.run import build_stage, prepare_data, train_stage
from igu_suite.scoring import SmoothedImportance, build_scorer
from igu_suite.training import make_loss_closure
from scorers.ig_snr import snr

from .conftest import tiny_bert

BUILT_IN = ["adalora", "ig", "ig_snr", "igu_sampled", "magnitude", "random", "sensitivity"]


@pytest.mark.parametrize("beta", [0.5, 0.85, 0.95])
@pytest.mark.parametrize("steps", [1, 2, 5, 10])
def test_snr_of_constant_stream_is_closed_form(beta, steps):
    # Reference: with β1 = β2 = β and I_t = c from Ī_0 = Ū_0 = 0,
    #   Ī_t = c (1 − β^t),  |I_t − Ī_t| = c β^t,  Ū_t = (1 − β) c Σ_{s=1..t} β^(t−s) β^s = (1 − β) c t β^t,
    # so SNR_t = (1 − β^t) / ((1 − β) t β^t): the same value for every magnitude c.
    # The state is fp32 and I_t − Ī_t = c β^t cancels about -log10(β^t) of its 7 digits, so
    # the table keeps β^t ≥ 1e-3 and the tolerance at 1e-4.
    magnitudes = torch.tensor([1e-6, 1e-3, 1.0, 1e3])
    smoothed = SmoothedImportance(beta, beta)
    for _ in range(steps):
        smoothed.update(("module", "singular_values"), magnitudes)
    measured = snr(smoothed, ("module", "singular_values"), epsilon=1e-30)
    expected = (1 - beta**steps) / ((1 - beta) * steps * beta**steps)
    torch.testing.assert_close(measured, torch.full_like(measured, expected), rtol=1e-4, atol=0.0)


def test_snr_separates_steady_from_noisy_streams():
    # Equal mean magnitude, but one stream alternates: the steady one must rank higher.
    smoothed = SmoothedImportance(0.85, 0.85)
    for step in range(30):
        noisy = 1.0 + (0.9 if step % 2 else -0.9)
        smoothed.update(("module", "right"), torch.tensor([1.0, noisy]))
    steady, alternating = snr(smoothed, ("module", "right"), epsilon=1e-12).tolist()
    assert steady > 2 * alternating


@pytest.mark.slow
@pytest.mark.parametrize("scorer_name", ["ig_snr", "igu_sampled"])
def test_snr_ranking_not_all_ties_on_minilm(data_dir, scorer_name):
    # A few allocations on the packaged MiniLM and real SST-2 batches. Note that after a single
    # update every nonzero entry has SNR (1 − β1) / ((1 − β2) β1), which is all ties, so the
    # ranking is informative only after the streams have varied.
    config = apply_overrides(
        smoke_preset("sst2"),
        [f"data_dir={data_dir}", f"scorer.name={scorer_name}", "scorer.score_every=1", "train.steps=8",
         "schedule.t_init=2", "schedule.t_final=2", "schedule.mask_interval=2", "train.batch_size=4",
         "train.max_length=24"],
    )
    data = prepare_data(config)
    stage = build_stage(config, data, torch.device("cpu"))
    train_stage(config, data, torch.device("cpu"), stage, scorer_name)
    allocations = [a for a in stage.allocator.history if a.scores is not None]
    assert [a.step for a in allocations] == [4, 6]
    for allocation in allocations:
        scores = torch.cat([allocation.scores[m.name] for m in stage.adapters])
        distinct = torch.unique(scores).numel()
        print(f"\n{scorer_name} step {allocation.step}: {distinct} distinct scores of {scores.numel()} triplets")
        assert distinct >= 0.9 * scores.numel()


def collect_state_tensors(value, seen=None):
    """Yield every tensor a scorer keeps, through dicts, lists and plain objects."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from collect_state_tensors(item, seen)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from collect_state_tensors(item, seen)
    elif hasattr(value, "__dict__") and not isinstance(value, (torch.nn.Module, type)):
        for name, item in vars(value).items():
            if name not in ("adapters", "config"):
                yield from collect_state_tensors(item, seen)


def train_a_few_steps(scorer_name, precision, tiny_batch):
    _, adapters = attach_adapters(tiny_bert(), AdapterConfig(init_rank=4, target_rank=2, singular_value_init=0.1),
                                  total_steps=10, task_type="SEQ_CLS")
    model = adapters.peft_model
    if precision == "bf16 weights":
        model.to(torch.bfloat16)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16 autocast")
    task = GlueTask(GLUE_SPECS["sst2"])
    scorer = build_scorer(ScorerConfig(name=scorer_name, n_steps=2, score_every=1), adapters, seed=0)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    closure = make_loss_closure(model, task, tiny_batch, torch.device("cpu"), bf16=False)
    for step in range(1, 4):
        scorer.before_forward(step)
        with autocast:
            task.compute_loss(model, tiny_batch).backward()
        adapters.set_path_scale(1.0)
        optimizer.step()
        with autocast:
            scorer.observe(step, closure)
        optimizer.zero_grad()
    return adapters, scorer


@pytest.mark.parametrize("precision", ["bf16 weights", "bf16 autocast"])
@pytest.mark.parametrize("scorer_name", BUILT_IN)
def test_scorer_state_stays_fp32_under_bf16(scorer_name, precision, tiny_batch):
    adapters, scorer = train_a_few_steps(scorer_name, precision, tiny_batch)
    if precision == "bf16 weights":
        assert adapters.modules[0].parameter("left").grad is None  # zero_grad ran
        assert adapters.modules[0].parameter("left").dtype == torch.bfloat16
    state = list(collect_state_tensors(scorer))
    assert state, "the scorer keeps no tensors"
    assert {tensor.dtype for tensor in state} == {torch.float32}
    for scores in scorer.triplet_scores().values():
        assert scores.dtype == torch.float32
        assert bool(torch.isfinite(scores).all())
