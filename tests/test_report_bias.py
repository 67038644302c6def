"""Bias against the ablation ground truth on hand-made score and ablation tables."""

import pandas as pd
import pytest

from reports.bias import (
    bias_by_group,
    checkpoint_labels,
    module_agreement,
    pair_scores_with_ablation,
    score_ablation_agreement,
    with_rank_differences,
)

IDENTITY = {"run": "r0", "task": "sst2", "scorer": "ig", "seed": 0}
# Four triplets in two modules: m0 is in layer 0 and m1 in layer 1.
TRIPLETS = [("m0", 0, 0, "query"), ("m0", 1, 0, "query"), ("m1", 0, 1, "value"), ("m1", 1, 1, "value")]


def ablation(step, increases, module_increases=None):
    rows = [{**IDENTITY, "step": step, "kind": "baseline", "loss_increase": 0.0, "measured": 1}]
    for (module, triplet, layer, module_type), increase in zip(TRIPLETS, increases):
        rows.append({**IDENTITY, "step": step, "kind": "triplet", "module": module, "triplet": triplet, "layer": layer,
                     "module_type": module_type, "loss_increase": increase, "measured": 1})
    for module, increase in (module_increases or {}).items():
        rows.append({**IDENTITY, "step": step, "kind": "module", "module": module, "loss_increase": increase,
                     "measured": 1})
    return rows


def scores(step, values, kept=(1, 1, 1, 1)):
    return [{**IDENTITY, "step": step, "module": module, "triplet": triplet, "score": value, "kept": flag}
            for (module, triplet, _, _), value, flag in zip(TRIPLETS, values, kept)]


def test_matching_ranking_gives_full_agreement():
    paired = pair_scores_with_ablation(pd.DataFrame(ablation(20, [0.4, 0.3, 0.2, 0.1])),
                                       pd.DataFrame(scores(20, [40.0, 30.0, 20.0, 10.0])))
    row = score_ablation_agreement(paired, top_fraction=0.5).iloc[0]
    assert row["triplets"] == 4
    assert row["spearman"] == pytest.approx(1.0)
    assert row["top_k"] == 2
    assert row["top_k_overlap"] == 1.0
    assert row["chance_overlap"] == 0.5


def test_reversed_ranking_gives_no_overlap():
    paired = pair_scores_with_ablation(pd.DataFrame(ablation(20, [0.4, 0.3, 0.2, 0.1])),
                                       pd.DataFrame(scores(20, [1.0, 2.0, 3.0, 4.0])))
    row = score_ablation_agreement(paired, top_fraction=0.5).iloc[0]
    assert row["spearman"] == pytest.approx(-1.0)
    assert row["top_k_overlap"] == 0.0


def test_scores_come_from_latest_allocation_before_checkpoint():
    history = pd.DataFrame(scores(10, [1.0, 2.0, 3.0, 4.0]) + scores(20, [4.0, 3.0, 2.0, 1.0])
                           + scores(30, [1.0, 1.0, 1.0, 1.0]))
    paired = pair_scores_with_ablation(pd.DataFrame(ablation(25, [0.4, 0.3, 0.2, 0.1])), history)
    assert set(paired["score_step"]) == {20}
    assert paired["score"].tolist() == [4.0, 3.0, 2.0, 1.0]


def test_bias_by_layer_by_hand():
    # Ablation ranks 1, 0.667, 0.333, 0; the scorer swaps the layers: scores rank m1 above m0.
    paired = pair_scores_with_ablation(pd.DataFrame(ablation(20, [0.4, 0.3, 0.2, 0.1])),
                                       pd.DataFrame(scores(20, [2.0, 1.0, 4.0, 3.0])))
    ranked = with_rank_differences(paired)
    assert ranked["score_rank"].tolist() == pytest.approx([1 / 3, 0.0, 1.0, 2 / 3])
    assert ranked["ablation_rank"].tolist() == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])
    labels = checkpoint_labels(pd.DataFrame(ablation(20, [0.4, 0.3, 0.2, 0.1])))
    by_layer = bias_by_group(ranked, labels, "layer").set_index("group")
    # Layer 0: ((1/3 - 1) + (0 - 2/3)) / 2 = -2/3; layer 1: ((1 - 1/3) + (2/3 - 0)) / 2 = +2/3.
    assert by_layer.loc[0, "mean_signed_difference"] == pytest.approx(-2 / 3)
    assert by_layer.loc[1, "mean_signed_difference"] == pytest.approx(2 / 3)
    by_type = bias_by_group(ranked, labels, "module_type").set_index("group")
    assert by_type.loc["value", "mean_signed_difference"] == pytest.approx(2 / 3)


def test_checkpoint_labels_name_final():
    table = pd.DataFrame(ablation(20, [0.1] * 4) + ablation(50, [0.1] * 4))
    labels = checkpoint_labels(table).set_index("step")["step_label"]
    assert labels[20] == "checkpoint 1 of 2"
    assert labels[50] == "final"


def test_module_agreement_sums_active_triplets():
    # The allocation at step 10 pruned m0's triplet 1, so at the step 20 checkpoint only
    # m0's triplet 0 counts: module scores m0 = 5, m1 = 2 + 1 = 3.
    history = pd.DataFrame(scores(10, [1.0, 1.0, 1.0, 1.0], kept=(1, 0, 1, 1))
                           + scores(20, [5.0, 100.0, 2.0, 1.0]))
    table = pd.DataFrame(ablation(20, [0.4, 0.0, 0.2, 0.1], module_increases={"m0": 0.5, "m1": 0.3}))
    agreement = module_agreement(table, history).iloc[0]
    assert agreement["modules"] == 2
    assert agreement["spearman"] == pytest.approx(1.0)
    reversed_table = pd.DataFrame(ablation(20, [0.4, 0.0, 0.2, 0.1], module_increases={"m0": 0.1, "m1": 0.3}))
    assert module_agreement(reversed_table, history).iloc[0]["spearman"] == pytest.approx(-1.0)


def test_no_ablation_gives_empty_tables():
    empty = pd.DataFrame()
    paired = pair_scores_with_ablation(empty, pd.DataFrame(scores(20, [1.0] * 4)))
    assert paired.empty
    assert score_ablation_agreement(paired).empty
    assert module_agreement(empty, pd.DataFrame(scores(20, [1.0] * 4))).empty
