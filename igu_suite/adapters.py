"""SVD-shaped LoRA adapters with a triplet mask, built on peft's AdaLoRA layers.

peft's ``SVDLinear`` computes ΔW x = P · diag(λ) · Q x · lora_alpha / r. This module swaps
each such layer's class for :class:`MaskedSVDLinear`, which multiplies λ by a mask m ∈ {0, 1}:

    ΔW = P · diag(λ ⊙ m) · Q · lora_alpha / r          P: (d_out, r), λ: (r, 1), Q: (r, d_in)

so a masked triplet adds exactly nothing to the output and gets zero gradient on λ, P_·i
and Q_i· (the orthogonal penalty still reaches P and Q). Parameter names, the saved state
dict and the adapter config stay peft's, so a saved run loads with
``peft.PeftModel.from_pretrained`` and the final rank pattern.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from peft import AdaLoraConfig, PeftModel, get_peft_model
from peft.tuners.adalora.layer import SVDLinear
from peft.utils import transpose
from torch import nn

from .config import AdapterConfig

logger = logging.getLogger(__name__)

ADAPTER_NAME = "default"
ROLES = ("left", "singular_values", "right")
_PEFT_ATTRIBUTE = {"left": "lora_B", "singular_values": "lora_E", "right": "lora_A"}

# Default target patterns per transformers model_type. Patterns match a module name equal to
# the pattern or ending with "." + pattern, so "output.dense" also matches
# "attention.output.dense"; both are wanted here.
_BERT_STYLE = ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"]
_LLAMA_STYLE = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
DEFAULT_TARGET_MODULES: dict[str, list[str]] = {
    "bert": _BERT_STYLE,
    "roberta": _BERT_STYLE,
    "xlm-roberta": _BERT_STYLE,
    "electra": _BERT_STYLE,
    "deberta-v2": ["query_proj", "key_proj", "value_proj", "attention.output.dense", "intermediate.dense", "output.dense"],
    "llama": _LLAMA_STYLE,
    "mistral": _LLAMA_STYLE,
    "qwen2": _LLAMA_STYLE,
    "qwen3": _LLAMA_STYLE,
}
# Task heads are trained in full (peft's modules_to_save), never adapted by default.
_HEAD_NAMES = ("classifier", "score", "lm_head", "pooler.dense")


class MaskedSVDLinear(SVDLinear):
    """peft's SVDLinear with a triplet mask and a path scale on the update.

    ``triplet_mask`` (r, 1) multiplies λ. ``path_scale`` s scales P, λ and Q together, which
    multiplies the update by s³; it is 1 except while a scorer evaluates the adapters at a
    point on the path from 0 to θ (igu_sampled). The buffer is not persistent, so peft's
    state dict is unchanged.
    """

    triplet_mask: torch.Tensor
    path_scale: float

    def _masked_singular_values(self, adapter: str) -> torch.Tensor:
        return self.lora_E[adapter] * self.triplet_mask.to(self.lora_E[adapter].dtype)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.disable_adapters or self.merged:
            return super().forward(x, *args, **kwargs)
        result = self.base_layer(x, *args, **kwargs)
        for adapter in self.active_adapters:
            if adapter not in self.lora_A.keys():
                continue
            right = self.lora_A[adapter]  # (r, d_in)
            left = self.lora_B[adapter]  # (d_out, r)
            singular_values = self._masked_singular_values(adapter)  # (r, 1)
            x_adapter = self._cast_input_dtype(x, right.dtype)
            update = (self.lora_dropout[adapter](x_adapter) @ (right * singular_values).T) @ left.T
            # The same operations in the same order as peft's SVDLinear.forward, so that with
            # every triplet kept the output, and so training, is bit-identical to peft's.
            update = update * self.scaling[adapter] / (self.ranknum[adapter] + 1e-5)
            if self.path_scale != 1.0:
                update = update * self.path_scale**3
            result = result + update.to(result.dtype)
        return result

    def get_delta_weight(self, adapter: str) -> torch.Tensor:
        singular_values = self._masked_singular_values(adapter)
        delta = transpose(self.lora_B[adapter] @ (self.lora_A[adapter] * singular_values), self.fan_in_fan_out)
        return delta * self.scaling[adapter] / (self.ranknum[adapter] + 1e-5)


@dataclass
class AdaptedModule:
    """One adapted linear layer and where its parameters live in the peft model."""

    name: str  # module name in the base model, e.g. bert.encoder.layer.0.attention.self.query
    layer: MaskedSVDLinear
    layer_index: int | None  # first integer in the name: the transformer block
    module_type: str  # the name after the block index, e.g. attention.self.query
    parameter_names: dict[str, str]  # role -> full parameter name in the peft model

    @property
    def rank(self) -> int:
        return int(self.layer.lora_E[ADAPTER_NAME].shape[0])

    def parameter(self, role: str) -> nn.Parameter:
        return getattr(self.layer, _PEFT_ATTRIBUTE[role])[ADAPTER_NAME]


def split_module_name(name: str) -> tuple[int | None, str]:
    """Return (block index, module type) of a module name such as ``…layer.3.attention.self.query``."""
    parts = name.split(".")
    for position, part in enumerate(parts):
        if part.isdigit():
            return int(part), ".".join(parts[position + 1 :]) or name
    return None, name


def _linear_module_names(model: nn.Module) -> list[str]:
    linear_types: tuple[type, ...] = (nn.Linear,)
    try:
        from transformers.pytorch_utils import Conv1D

        linear_types = (nn.Linear, Conv1D)
    except ImportError:  # pragma: no cover - transformers always ships Conv1D today
        pass
    return [name for name, module in model.named_modules() if isinstance(module, linear_types)]


def _matches(name: str, pattern: str) -> bool:
    if pattern.startswith("re:"):
        return re.fullmatch(pattern[3:], name) is not None
    return name == pattern or name.endswith("." + pattern)


def _summarize_names(names: list[str]) -> str:
    generic = sorted({re.sub(r"\.\d+\.", ".N.", name) for name in names})
    return ", ".join(generic)


def resolve_target_modules(model: nn.Module, patterns: list[str] | None) -> list[str]:
    """Return the names of the linear modules that ``patterns`` select.

    ``None`` picks the default patterns of the model's family. Raises ValueError for a
    pattern that matches no linear module, listing the linear modules that exist.
    """
    linear_names = _linear_module_names(model)
    chosen_by_user = patterns is not None
    if patterns is None:
        model_type = getattr(getattr(model, "config", None), "model_type", None)
        if model_type not in DEFAULT_TARGET_MODULES:
            raise ValueError(
                f"No default target modules for model type {model_type!r}. Set "
                "adapter.target_modules to name patterns; linear modules of this model: "
                f"{_summarize_names(linear_names)}."
            )
        patterns = DEFAULT_TARGET_MODULES[model_type]
        logger.info("Target modules: default patterns for %s: %s", model_type, ", ".join(patterns))

    unmatched = [p for p in patterns if not any(_matches(n, p) for n in linear_names)]
    if unmatched:
        raise ValueError(
            f"Target pattern(s) {', '.join(repr(p) for p in unmatched)} matched no linear module "
            f"of {type(model).__name__}. Linear modules (block indices shown as N): "
            f"{_summarize_names(linear_names)}. Set adapter.target_modules to patterns from this list."
        )
    selected = [n for n in linear_names if any(_matches(n, p) for p in patterns)]
    heads = [n for n in selected if n.endswith(_HEAD_NAMES)]
    if heads and chosen_by_user:
        logger.warning("Adapting task-head module(s) %s because a target pattern matched them.", ", ".join(heads))
    return selected


class SVDAdapters:
    """The adapted modules of one peft model, in a fixed order, with their triplet masks.

    The order of :attr:`modules` (the model's module order) and of triplets within a module
    defines the global triplet index that the allocator uses to break ties.
    """

    def __init__(self, peft_model: PeftModel, mask_mode: str = "hard") -> None:
        self.peft_model = peft_model
        self.mask_mode = mask_mode
        self.modules: list[AdaptedModule] = []
        prefix = "base_model.model."
        for full_name, module in peft_model.named_modules():
            if not isinstance(module, MaskedSVDLinear):
                continue
            name = full_name[len(prefix) :] if full_name.startswith(prefix) else full_name
            layer_index, module_type = split_module_name(name)
            parameter_names = {
                role: f"{full_name}.{_PEFT_ATTRIBUTE[role]}.{ADAPTER_NAME}" for role in ROLES
            }
            self.modules.append(AdaptedModule(name, module, layer_index, module_type, parameter_names))
        if not self.modules:
            raise ValueError("The model has no SVD adapter layers; call attach_adapters first.")
        # Kept triplets per module; in 'hard' mode this mirrors the layers' mask buffers.
        self._kept = {m.name: torch.ones(m.rank, dtype=torch.bool) for m in self.modules}

    def __iter__(self) -> Iterator[AdaptedModule]:
        return iter(self.modules)

    def __len__(self) -> int:
        return len(self.modules)

    @property
    def initial_budget(self) -> int:
        return sum(m.rank for m in self.modules)

    def named_parameters(self) -> Iterator[tuple[AdaptedModule, str, nn.Parameter]]:
        """Yield (module, role, parameter) for P, λ and Q of every adapted module."""
        for module in self.modules:
            for role in ROLES:
                yield module, role, module.parameter(role)

    def masks(self) -> dict[str, torch.Tensor]:
        """Return the kept-triplet mask (bool, shape (r,)) of every module."""
        return {name: kept.clone() for name, kept in self._kept.items()}

    def ranks(self) -> dict[str, int]:
        """Return each module's effective rank: its count of unmasked triplets."""
        return {name: int(kept.sum()) for name, kept in self._kept.items()}

    def set_masks(self, masks: dict[str, torch.Tensor]) -> None:
        """Keep exactly the triplets marked True; how the rest is removed depends on mask_mode."""
        for module in self.modules:
            kept = masks[module.name].to(torch.bool).view(-1).cpu()
            if kept.numel() != module.rank:
                raise ValueError(f"Mask for {module.name} has {kept.numel()} entries, expected {module.rank}.")
            self._kept[module.name] = kept.clone()
        self.enforce_masks()

    def enforce_masks(self) -> None:
        """Write the kept-triplet masks into the layers.

        'hard' sets the mask buffers. 'peft' zeroes λ of the masked triplets in place, as
        peft's RankAllocator does. The allocator calls this again at every step of the final
        phase, because the optimizer can move a zeroed λ away from 0.
        """
        with torch.no_grad():
            for module in self.modules:
                kept = self._kept[module.name]
                if self.mask_mode == "hard":
                    buffer = module.layer.triplet_mask
                    buffer.copy_(kept.view(-1, 1).to(buffer.dtype))
                else:
                    singular_values = module.parameter("singular_values")
                    singular_values.masked_fill_(~kept.view(-1, 1).to(singular_values.device), 0.0)

    def set_path_scale(self, scale: float) -> None:
        for module in self.modules:
            module.layer.path_scale = float(scale)

    def orthogonal_penalty(self) -> torch.Tensor:
        """Return mean over matrices of ||QQᵀ − I||_F and ||PᵀP − I||_F, as peft computes it."""
        total = None
        count = 0
        for module in self.modules:
            right = module.parameter("right")  # (r, d_in)
            left = module.parameter("left")  # (d_out, r)
            for gram in (right @ right.T, left.T @ left):  # (r, r) each
                identity = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
                term = torch.linalg.matrix_norm(gram - identity, ord="fro")
                total = term if total is None else total + term
                count += 1
        return total / count

    def adapter_parameter_count(self) -> int:
        """Return the trainable adapter parameters that the kept triplets use: r_m (d_in + d_out + 1)."""
        count = 0
        for module in self.modules:
            d_out, _ = module.parameter("left").shape
            _, d_in = module.parameter("right").shape
            count += int(self._kept[module.name].sum()) * (d_in + d_out + 1)
        return count

    def rank_pattern(self) -> dict[str, list[bool]]:
        """Return the kept triplets in peft's ``rank_pattern`` format (keys end in ``lora_E``)."""
        return {f"{m.name}.lora_E": self._kept[m.name].tolist() for m in self.modules}

    def save(self, directory: str | Path) -> None:
        """Save the adapter in peft's AdaLoRA format, pruned to the kept triplets."""
        config = self.peft_model.peft_config[ADAPTER_NAME]
        config.rank_pattern = self.rank_pattern()
        with warnings.catch_warnings():
            # A module pruned to rank 0 saves (0, d) tensors. peft 0.21 mistakes them for
            # unsharded DeepSpeed or FSDP tensors, but they are correct and reload as rank 0.
            warnings.filterwarnings("ignore", message=".*LoRA tensor\\(s\\) have invalid shape")
            self.peft_model.save_pretrained(str(directory))


def attach_adapters(
    model: nn.Module,
    config: AdapterConfig,
    total_steps: int,
    task_type: str | None,
    schedule_values: dict[str, int] | None = None,
) -> tuple[PeftModel, SVDAdapters]:
    """Wrap ``model`` with masked SVD adapters on the selected linear modules.

    ``task_type`` is peft's (``SEQ_CLS``, ``CAUSAL_LM`` or None); for ``SEQ_CLS`` peft also
    trains the classifier head in full. ``schedule_values`` (t_init, t_final, mask_interval)
    only fill the saved adapter_config.json; this suite's allocator does the scheduling.
    """
    targets = resolve_target_modules(model, config.target_modules)
    schedule_values = schedule_values or {}
    t_init = schedule_values.get("t_init", 0)
    t_final = schedule_values.get("t_final", 0)
    if t_init + t_final >= total_steps:  # peft's own config check would fail less clearly
        t_init, t_final = 0, 0
    peft_config = AdaLoraConfig(
        init_r=config.init_rank,
        target_r=config.target_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        orth_reg_weight=config.orth_reg_weight,
        target_modules=targets,
        total_step=total_steps,
        tinit=t_init,
        tfinal=t_final,
        deltaT=schedule_values.get("mask_interval", 1),
        task_type=task_type,
    )
    peft_model = get_peft_model(model, peft_config)

    for module in peft_model.modules():
        if isinstance(module, SVDLinear) and not isinstance(module, MaskedSVDLinear):
            module.__class__ = MaskedSVDLinear
            rank = module.lora_E[ADAPTER_NAME].shape[0]
            mask = torch.ones(rank, 1, device=module.lora_E[ADAPTER_NAME].device)
            module.register_buffer("triplet_mask", mask, persistent=False)
            module.path_scale = 1.0
            if config.singular_value_init != 0.0:
                with torch.no_grad():
                    module.lora_E[ADAPTER_NAME].fill_(config.singular_value_init)

    adapters = SVDAdapters(peft_model, mask_mode=config.mask_mode)
    logger.info(
        "Attached SVD adapters of rank %d to %d modules (initial budget %d triplets)",
        config.init_rank,
        len(adapters),
        adapters.initial_budget,
    )
    return peft_model, adapters
