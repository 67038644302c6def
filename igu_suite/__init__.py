"""igu-suite: compare importance scorers for adaptive-rank LoRA on one shared backbone.

Every adapted linear layer gets an SVD-shaped update ΔW = P · diag(λ ⊙ m) · Q · scaling,
as in AdaLoRA (Zhang et al., ICLR 2023). Training shrinks a global rank budget and keeps
the singular triplets that an importance scorer ranks highest.

Paper symbols and the identifiers that carry them:

==========================  ===============================================================
paper                       code
==========================  ===============================================================
P (d_out × r)               ``lora_B`` in peft's layers, ``left`` in prose
Λ = diag(λ), λ (r)          ``lora_E`` in peft's layers, ``singular_values`` in prose
Q (r × d_in)                ``lora_A`` in peft's layers, ``right`` in prose
m (r)                       ``triplet_mask`` buffer of :class:`igu_suite.adapters.MaskedSVDLinear`
triplet (P_·i, λ_i, Q_i·)   ``triplet``; its index i within a module is ``triplet`` too
b(t), b(0), b(T)            ``budget(step)``, ``initial_budget``, ``target_budget``
t_i, t_f, ΔT                ``t_init``, ``t_final``, ``mask_interval``
γ                           ``orth_reg_weight``
I, Ī, Ū                     ``sensitivity``, ``smoothed_importance``, ``uncertainty``
β1, β2                      ``beta1``, ``beta2``
SNR = Ī / (Ū + ε)           ``snr``
IG, N                       ``integrated_gradients``, ``n_steps``
α (path position)           ``alpha``; ``path_scale`` on a layer
==========================  ===============================================================

Steps are optimizer steps, counted from 1, never micro-batches.
"""

__version__ = "0.1.0"
