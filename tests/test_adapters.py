"""Masked SVD adapters: identity at step 0, mask semantics, target selection, peft reload."""

import copy

import pytest
import torch
from peft import PeftModel

from igu_suite.adapters import attach_adapters, resolve_target_modules
from igu_suite.config import AdapterConfig

from .conftest import tiny_bert


def logits(model, batch):
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    return model(**inputs).logits


def adapted(model, **config):
    return attach_adapters(model, AdapterConfig(init_rank=4, target_rank=2, **config), total_steps=10, task_type="SEQ_CLS")


def randomize_singular_values(adapters, seed=1):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in adapters:
            values = module.parameter("singular_values")
            values.copy_(torch.randn(values.shape, generator=generator))


def test_adapted_model_equals_base_at_step_zero(tiny_model, tiny_batch):
    tiny_model.eval()
    expected = logits(tiny_model, tiny_batch).detach().clone()
    peft_model, _ = adapted(copy.deepcopy(tiny_model))
    peft_model.eval()
    assert torch.equal(logits(peft_model, tiny_batch), expected)


def test_seed_authors_initial_singular_values(tiny_model):
    _, adapters = adapted(tiny_model, singular_value_init=0.1)
    values = torch.cat([m.parameter("singular_values").view(-1) for m in adapters])
    assert torch.allclose(values, torch.full_like(values, 0.1))


def test_masked_triplet_contributes_nothing(tiny_model, tiny_batch):
    peft_model, adapters = adapted(tiny_model)
    randomize_singular_values(adapters)
    peft_model.eval()
    module = adapters.modules[0]
    masks = adapters.masks()
    masks[module.name][1] = False
    adapters.set_masks(masks)
    masked_output = logits(peft_model, tiny_batch).detach()

    # Reference: the same model with that triplet's λ, P column and Q row set to zero.
    with torch.no_grad():
        module.parameter("singular_values")[1] = 0.0
        module.parameter("left")[:, 1] = 0.0
        module.parameter("right")[1, :] = 0.0
    adapters.set_masks({name: torch.ones_like(mask) for name, mask in masks.items()})
    reference = logits(peft_model, tiny_batch).detach()
    assert torch.equal(masked_output, reference)


def test_masked_triplet_gets_zero_gradient(tiny_model, tiny_batch):
    peft_model, adapters = adapted(tiny_model)
    randomize_singular_values(adapters)
    module = adapters.modules[2]
    masks = adapters.masks()
    masks[module.name][0] = False
    adapters.set_masks(masks)
    loss = torch.nn.functional.cross_entropy(logits(peft_model, tiny_batch), tiny_batch["labels"])
    loss.backward()
    grad = module.parameter("singular_values").grad.view(-1)
    assert grad[0] == 0.0
    assert bool((grad[1:] != 0).all())
    assert bool((module.parameter("left").grad[:, 0] == 0).all())
    assert bool((module.parameter("right").grad[0, :] == 0).all())


def test_effective_rank_counts_unmasked_triplets(tiny_model):
    _, adapters = adapted(tiny_model)
    masks = adapters.masks()
    first = adapters.modules[0].name
    masks[first][:3] = False
    adapters.set_masks(masks)
    ranks = adapters.ranks()
    assert ranks[first] == 1
    assert adapters.modules[0].rank == 4  # the tensor keeps its shape
    assert sum(ranks.values()) == adapters.initial_budget - 3


def test_default_bert_targets(tiny_model):
    names = resolve_target_modules(tiny_model, None)
    assert len(names) == 2 * 6
    assert "bert.encoder.layer.0.attention.self.query" in names
    assert "bert.encoder.layer.1.output.dense" in names
    assert "bert.pooler.dense" not in names
    assert "classifier" not in names


def test_unmatched_pattern_lists_module_names(tiny_model):
    with pytest.raises(ValueError, match="'q_proj' matched no linear module") as error:
        resolve_target_modules(tiny_model, ["query", "q_proj"])
    assert "bert.encoder.layer.N.attention.self.query" in str(error.value)


def test_regex_pattern(tiny_model):
    names = resolve_target_modules(tiny_model, [r"re:.*layer\.1\..*value"])
    assert names == ["bert.encoder.layer.1.attention.self.value"]


@pytest.mark.parametrize("mask_mode", ["hard", "peft"])
def test_peft_reload_matches_logits(tmp_path, tiny_batch, seed, mask_mode):
    base = tiny_bert()
    reload_base = copy.deepcopy(base)
    peft_model, adapters = adapted(base, mask_mode=mask_mode)
    randomize_singular_values(adapters)
    with torch.no_grad():  # a trained head, so that reloading it matters
        peft_model.base_model.model.classifier.modules_to_save["default"].weight.mul_(3.0)
    masks = adapters.masks()
    for index, module in enumerate(adapters):
        masks[module.name][: index % 4] = False  # ranks 4, 3, 2, 1, 4, ...
    masks[adapters.modules[3].name][:] = False  # one module pruned to rank 0
    adapters.set_masks(masks)
    peft_model.eval()
    expected = logits(peft_model, tiny_batch).detach()
    adapters.save(tmp_path / "adapter")

    loaded = PeftModel.from_pretrained(reload_base, tmp_path / "adapter")
    loaded.eval()
    assert torch.allclose(logits(loaded, tiny_batch), expected, atol=1e-6)
    layer = loaded.base_model.model.bert.encoder.layer[0].attention.self.key
    assert layer.lora_E["default"].shape[0] == 3


def tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=100, n_positions=32, n_embd=32, n_layer=2, n_head=2, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0)
    return GPT2LMHeadModel(config)


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_merged_weights_match_masked_forward(family, seed, tiny_batch):
    """Merging a masked adapter into the base weights gives the unmerged output (Linear and Conv1D)."""
    if family == "bert":
        model, patterns, task_type = tiny_bert(), None, "SEQ_CLS"
    else:
        model, patterns, task_type = tiny_gpt2(), ["c_attn", "c_fc"], "CAUSAL_LM"
    peft_model, adapters = attach_adapters(
        model, AdapterConfig(init_rank=4, target_rank=2, target_modules=patterns), total_steps=10, task_type=task_type
    )
    randomize_singular_values(adapters)
    masks = adapters.masks()
    masks[adapters.modules[0].name][1:3] = False
    adapters.set_masks(masks)
    peft_model.eval()
    expected = logits(peft_model, tiny_batch).detach()
    peft_model.merge_adapter()
    assert torch.allclose(logits(peft_model, tiny_batch), expected, atol=1e-5)
