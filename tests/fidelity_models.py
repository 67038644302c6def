"""Small models whose attributions have closed forms, shared by the fidelity tests.

``AdapterProbe`` is one linear layer with a real masked SVD adapter and a squared-error loss.
Along the path α ↦ αθ (P, λ and Q scaled together) the adapter update is α³ΔW, so the loss is
a degree-6 polynomial in α and every path integral the tests need has a closed form.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from igu_suite.adapters import ADAPTER_NAME, SVDAdapters, attach_adapters
from igu_suite.config import AdapterConfig

D_IN, D_OUT, RANK, BATCH = 5, 4, 3, 6
LORA_ALPHA = 8.0


class _Projection(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(D_IN, D_OUT)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.proj(inputs)


@dataclass
class AdapterProbe:
    """A float64 linear layer with an SVD adapter of rank 3, a batch and a regression target."""

    model: nn.Module
    adapters: SVDAdapters
    inputs: torch.Tensor  # (BATCH, D_IN)
    target: torch.Tensor  # (BATCH, D_OUT)

    @property
    def layer(self):
        return self.adapters.modules[0].layer

    def parameter(self, role: str) -> nn.Parameter:
        return self.adapters.modules[0].parameter(role)

    def loss(self, overrides: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """½ Σ ||y − target||² over the batch; ``overrides`` replace parameters by full name."""
        if overrides:
            outputs = functional_call(self.model, overrides, (self.inputs,), strict=False)
        else:
            outputs = self.model(self.inputs)
        return 0.5 * ((outputs - self.target) ** 2).sum()

    def path_terms(self) -> dict[str, torch.Tensor]:
        """Return the pieces of the closed forms, all in float64.

        With s = lora_alpha / (r + 1e-5) (peft's scaling), u = Q x, v = λ ⊙ u and the adapter
        output D = s P v, the residual along the path is e(α) = r0 + α³ D with r0 = W0 x + b − t.
        """
        layer = self.layer
        base = layer.base_layer
        scale = LORA_ALPHA / (RANK + 1e-5)
        left = self.parameter("left").detach()  # P: (D_OUT, RANK)
        singular_values = self.parameter("singular_values").detach()  # λ: (RANK, 1)
        right = self.parameter("right").detach()  # Q: (RANK, D_IN)
        projected = self.inputs @ right.T  # u per example: (BATCH, RANK)
        weighted = projected * singular_values.view(1, -1)  # v per example: (BATCH, RANK)
        return {
            "scale": torch.tensor(scale, dtype=torch.float64),
            "left": left,
            "singular_values": singular_values,
            "right": right,
            "projected": projected,
            "weighted": weighted,
            "residual": self.inputs @ base.weight.detach().T + base.bias.detach() - self.target,  # r0
            "update": scale * weighted @ left.T,  # D: (BATCH, D_OUT)
        }

    def closed_form_attributions(self, residual_weight: float, update_weight: float) -> dict[str, torch.Tensor]:
        """Return θ ⊙ ∫ w(α) ∇L(αθ) dα for P, λ and Q in closed form.

        For every role the gradient at αθ is α² times a product with e(α), so an integral with
        weight w(α) reduces to G = s (c_r r0 + c_D D) with c_r = ∫ w α² dα and
        c_D = ∫ w α⁵ dα. Plain IG (w = 1): c_r = 1/3, c_D = 1/6. Then
        IG_P = P ⊙ Σ_n g_n v_nᵀ, IG_λ = λ ⊙ Σ_n u_n ⊙ Pᵀ g_n, IG_Q = Q ⊙ Σ_n (λ ⊙ Pᵀ g_n) x_nᵀ.
        """
        terms = self.path_terms()
        gradient_factor = terms["scale"] * (residual_weight * terms["residual"] + update_weight * terms["update"])
        back_projected = gradient_factor @ terms["left"]  # Pᵀ g per example: (BATCH, RANK)
        singular_row = terms["singular_values"].view(1, -1)
        return {
            "left": terms["left"] * (gradient_factor.T @ terms["weighted"]),
            "singular_values": terms["singular_values"] * (back_projected * terms["projected"]).sum(0).view(-1, 1),
            "right": terms["right"] * ((back_projected * singular_row).T @ self.inputs),
        }


def make_adapter_probe(seed: int = 0, mask_mode: str = "hard") -> AdapterProbe:
    """Build the probe with random P, λ and Q (λ nonzero, so every attribution is nonzero)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    config = AdapterConfig(init_rank=RANK, target_rank=1, lora_alpha=LORA_ALPHA, target_modules=["proj"],
                           mask_mode=mask_mode)
    model, adapters = attach_adapters(_Projection(), config, total_steps=10, task_type=None)
    model.double()
    with torch.no_grad():
        for role in ("left", "singular_values", "right"):
            parameter = adapters.modules[0].parameter(role)
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64) * 0.5)
    inputs = torch.randn(BATCH, D_IN, generator=generator, dtype=torch.float64)
    target = torch.randn(BATCH, D_OUT, generator=generator, dtype=torch.float64)
    assert adapters.modules[0].layer.ranknum[ADAPTER_NAME].item() == RANK  # the closed form assumes r = 3
    return AdapterProbe(model, adapters, inputs, target)
