"""Random control scorer."""

from __future__ import annotations

import torch

from igu_suite.scoring import ImportanceScorer, LossClosure


class RandomScorer(ImportanceScorer):
    """Uniform random triplet scores, drawn once per run from a generator seeded with the run seed.

    The control every comparison needs: any scorer that does not beat it on accuracy has
    not shown that it picks better triplets. Drawing once gives a fixed random ranking, so
    pruning is nested (a triplet once pruned stays pruned) and the control adds no churn
    of its own. Scores lie in [0, 1); higher means kept first.
    """

    name = "random"
    summary = "Seeded uniform random triplet scores, drawn once (the control); no extra passes."

    def __init__(self, adapters, config, seed: int = 0) -> None:
        super().__init__(adapters, config, seed)
        generator = torch.Generator().manual_seed(seed)
        self._scores = {m.name: torch.rand(m.rank, generator=generator) for m in adapters}

    def observe(self, step: int, loss_closure: LossClosure) -> None:
        """Do nothing: the scores do not depend on training."""

    def triplet_scores(self) -> dict[str, torch.Tensor]:
        return {name: scores.clone() for name, scores in self._scores.items()}
