"""Shared fixtures. Tests run offline: the hub is never contacted."""

from __future__ import annotations

import os
import random
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def seed() -> int:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    return 0


@pytest.fixture(scope="session")
def data_dir() -> str:
    """The folder with glue/<TASK>/{train,dev}.tsv: $IGU_DATA_DIR, else ../shared/data.

    Missing data is an error, not a skip: the tests that need it claim results on real data.
    """
    candidates = [os.environ.get("IGU_DATA_DIR"), str(REPO_ROOT.parent / "shared" / "data")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "glue").is_dir():
            return str(Path(candidate).resolve())
    raise RuntimeError(
        "GLUE data not found: set IGU_DATA_DIR to a folder with glue/<TASK>/{train,dev}.tsv "
        "(the Makefile uses ../shared/data when it exists)."
    )


def tiny_bert(num_labels: int = 2) -> BertForSequenceClassification:
    """A 2-layer BERT with hidden size 32, built from a config (random weights, no download)."""
    config = BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64, num_labels=num_labels, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return BertForSequenceClassification(config)


@pytest.fixture
def tiny_model(seed) -> BertForSequenceClassification:
    return tiny_bert()


@pytest.fixture
def tiny_batch(seed) -> dict[str, torch.Tensor]:
    input_ids = torch.randint(1, 100, (4, 12))
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "labels": torch.tensor([0, 1, 1, 0]),
    }
