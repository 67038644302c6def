"""Every registered scorer returns finite, non-negative triplet scores of the right shape."""

import pytest
import torch

from evals.glue import GLUE_SPECS, GlueTask
from igu_suite.adapters import attach_adapters
from igu_suite.config import AdapterConfig, ScorerConfig
from igu_suite.registry import Registry, scorer_registry
from igu_suite.scoring import ImportanceScorer, aggregate_triplet_scores, build_scorer, resolve_scorer_class
from igu_suite.training import make_loss_closure

BUILT_IN = ["adalora", "ig", "ig_snr", "igu_sampled", "magnitude", "random", "sensitivity"]


def test_built_in_scorers_are_registered():
    assert set(BUILT_IN) <= set(scorer_registry.names())


def run_scorer(name, tiny_model, tiny_batch, steps=3):
    _, adapters = attach_adapters(tiny_model, AdapterConfig(init_rank=4, target_rank=2, singular_value_init=0.1),
                                  total_steps=10, task_type="SEQ_CLS")
    model = adapters.peft_model
    task = GlueTask(GLUE_SPECS["sst2"])
    scorer = build_scorer(ScorerConfig(name=name, n_steps=3, score_every=2), adapters, seed=0)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for step in range(1, steps + 1):
        scorer.before_forward(step)
        loss = task.compute_loss(model, tiny_batch)
        loss.backward()
        adapters.set_path_scale(1.0)
        optimizer.step()
        scorer.observe(step, make_loss_closure(model, task, tiny_batch, torch.device("cpu"), bf16=False))
        optimizer.zero_grad()
    return adapters, scorer


@pytest.mark.parametrize("name", BUILT_IN)
def test_scores_finite_nonnegative_shaped(name, tiny_model, tiny_batch):
    adapters, scorer = run_scorer(name, tiny_model, tiny_batch)
    scores = scorer.triplet_scores()
    assert set(scores) == {m.name for m in adapters}
    for module in adapters:
        value = scores[module.name]
        assert value.shape == (module.rank,)
        assert value.dtype == torch.float32
        assert bool(torch.isfinite(value).all())
        assert bool((value >= 0).all())


@pytest.mark.parametrize("name, passes", [("ig", 3 * 2), ("ig_snr", 3 * 2), ("adalora", 0), ("igu_sampled", 0)])
def test_extra_passes_counted(name, passes, tiny_model, tiny_batch):
    # Steps 1 and 2 compute IG (first observe, then score_every=2); step 3 reuses it.
    _, scorer = run_scorer(name, tiny_model, tiny_batch)
    assert scorer.extra_passes == passes


def test_igu_sampled_draws_from_grid(tiny_model):
    _, adapters = attach_adapters(tiny_model, AdapterConfig(init_rank=4, target_rank=2), total_steps=10,
                                  task_type="SEQ_CLS")
    scorer = build_scorer(ScorerConfig(name="igu_sampled", alpha_grid_size=4), adapters, seed=0)
    draws = {scorer.sample_alpha() for _ in range(200)}
    assert draws == {0.25, 0.5, 0.75, 1.0}


def test_aggregation_matches_definition():
    left = torch.arange(6.0).view(3, 2)  # (d_out=3, r=2)
    singular_values = torch.tensor([[10.0], [20.0]])
    right = torch.arange(8.0).view(2, 4)  # (r=2, d_in=4)
    # S_0 = 10 + mean(0, 1, 2, 3) + mean(0, 2, 4) = 10 + 1.5 + 2; S_1 = 20 + 5.5 + 3.
    assert aggregate_triplet_scores(left, singular_values, right).tolist() == [13.5, 28.5]


def test_unknown_scorer_lists_valid_names():
    with pytest.raises(KeyError, match="Valid names: adalora, ig"):
        resolve_scorer_class("adalorra")


def test_dotted_path_must_be_a_scorer():
    with pytest.raises(ValueError, match="not a subclass"):
        resolve_scorer_class("torch.nn:Linear")


def test_dotted_path_import_error_is_clear():
    with pytest.raises(ValueError, match="Cannot import module 'no_such_package.scorers'"):
        resolve_scorer_class("no_such_package.scorers:Mine")


def test_registry_rejects_duplicate_names():
    registry = Registry("scorer", "igu_suite.no_such_group")

    class First(ImportanceScorer):
        pass

    class Second(ImportanceScorer):
        pass

    registry.register("mine", First)
    registry.register("mine", First)  # the same object again is fine
    with pytest.raises(ValueError, match="already registered"):
        registry.register("mine", Second)
