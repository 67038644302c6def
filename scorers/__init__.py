"""Built-in importance scorers, one per file, each registered by name as an entry point.

=============  ==============================================================  =========
name           per-entry score s, summed per triplet as AdaLoRA does            passes
=============  ==============================================================  =========
magnitude      EMA of |∇θ L|                                                    none
sensitivity    |θ ⊙ ∇θ L|, instantaneous                                        none
adalora        Ī · Ū of the sensitivity (AdaLoRA)                               none
ig             |IG| in parameter space, zero baseline, every score_every steps  N per IG
ig_snr         Ī / (Ū + ε) of |IG| (IGU-LoRA)                                    N per IG
igu_sampled    Ī / (Ū + ε) of |θ ⊙ α∇L(αθ)|, one random α per micro-batch        none
random         seeded uniform scores, drawn once (the control)                  none
=============  ==============================================================  =========
"""
