"""Random search, the NASNet paper's baseline (Zoph et al. 2018, section 4.4): every decision of every child
drawn uniformly from the same space as the controller's; it learns nothing, it only remembers. Torch-free,
with the interface of `Controller` (propose, tell, state_dict) so that a search can run either."""

from __future__ import annotations

import random
from typing import Any

from worker.nas.space import Child, random_decisions, uniform_log_probability

__all__ = ["RandomSearch"]


class RandomSearch:
    kind = "random"

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)
        self.next_number = 0
        self.sampled: dict[int, Child] = {}
        self.rewards: dict[int, float] = {}

    def propose(self, n: int = 1) -> list[Child]:
        children = []
        for _ in range(n):
            child = Child(self.next_number, tuple(random_decisions(self.rng)), uniform_log_probability())
            self.sampled[child.number] = child
            self.next_number += 1
            children.append(child)
        return children

    def tell(self, number: int, reward: float) -> bool:
        """Records the reward of child `number`; False when it was told before."""
        if number in self.rewards:
            return False
        self.sampled.pop(number)  # KeyError: never proposed
        self.rewards[number] = float(reward)
        return True

    @property
    def learned(self) -> set[int]:
        return set(self.rewards)

    def state_dict(self) -> dict[str, Any]:
        version, internal, gauss = self.rng.getstate()
        return {"kind": self.kind, "rng": [version, list(internal), gauss], "next_number": self.next_number,
                "sampled": [c.to_dict() for c in self.sampled.values()],
                "rewards": [[n, r] for n, r in self.rewards.items()]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.next_number = state["next_number"]
        self.sampled = {c["number"]: Child.from_dict(c) for c in state["sampled"]}
        self.rewards = {int(n): float(r) for n, r in state["rewards"]}
