"""The NASNet search space as a sequence of decisions (Zoph et al. 2018, section 3 and appendix A).

A child network is 2 x 5B = 50 decisions: the normal cell's 25, then the reduction cell's. Each block makes
five, in the paper's order: its first input, its second input, the operation on the first, the operation
on the second, and how to combine them. Block b, counted from 0, chooses its inputs among 2 + b states, the
operations among the 13 of `OPERATIONS`, the combine among add and concat. Every genotype of the space
concatenates the block results that no block reads (the paper's rule). Torch-free.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from worker.engine.genotype import BLOCKS, COMBINES, OPERATIONS, Block, CellGenotype, Genotype

__all__ = ["DECISIONS", "Child", "Decision", "decisions_of", "genotype_of", "random_decisions",
           "uniform_log_probability"]

CELLS = ("normal", "reduction")


@dataclass(frozen=True)
class Decision:
    """One of the 50 decisions: which cell, which block, which field of the block, and its choices."""
    cell: str
    block: int
    field: str  # input_1, input_2, op_1, op_2 or combine
    choices: int

    @property
    def kind(self) -> str:
        """"input", "op" or "combine": decisions of one kind share what their choices mean."""
        return self.field.rstrip("_12")


def _cell_decisions(cell: str) -> list[Decision]:
    out = []
    for b in range(BLOCKS):
        out += [Decision(cell, b, "input_1", 2 + b), Decision(cell, b, "input_2", 2 + b),
                Decision(cell, b, "op_1", len(OPERATIONS)), Decision(cell, b, "op_2", len(OPERATIONS)),
                Decision(cell, b, "combine", len(COMBINES))]
    return out


DECISIONS: tuple[Decision, ...] = tuple(d for cell in CELLS for d in _cell_decisions(cell))


def genotype_of(decisions: Sequence[int]) -> Genotype:
    """The genotype that 50 decisions (choice indices, in DECISIONS' order) describe."""
    if len(decisions) != len(DECISIONS):
        raise ValueError(f"a child is {len(DECISIONS)} decisions, got {len(decisions)}")
    fields: dict[str, list[dict]] = {cell: [{} for _ in range(BLOCKS)] for cell in CELLS}
    for decision, choice in zip(DECISIONS, decisions, strict=True):
        if not 0 <= choice < decision.choices:
            raise ValueError(f"{decision.cell} block {decision.block} {decision.field}: choice {choice} is "
                             f"outside 0-{decision.choices - 1}")
        value = {"op": OPERATIONS, "combine": COMBINES}.get(decision.kind)
        fields[decision.cell][decision.block][decision.field] = int(choice) if value is None else value[choice]
    return Genotype(**{cell: CellGenotype(blocks=tuple(Block(**block) for block in blocks))
                       for cell, blocks in fields.items()})


def decisions_of(genotype: Genotype) -> list[int]:
    """The 50 decisions of a genotype (its concat lists are not decisions: the space's rule sets them)."""
    out = []
    for decision in DECISIONS:
        value = getattr(getattr(genotype, decision.cell).blocks[decision.block], decision.field)
        out.append({"op": OPERATIONS, "combine": COMBINES}[decision.kind].index(value)
                   if decision.kind != "input" else value)
    return out


def random_decisions(rng: random.Random) -> list[int]:
    """Every decision drawn uniformly: random search, the paper's baseline."""
    return [rng.randrange(d.choices) for d in DECISIONS]


def uniform_log_probability() -> float:
    """The log-probability of any one child under the uniform policy (about -84.55)."""
    return -sum(math.log(d.choices) for d in DECISIONS)


@dataclass(frozen=True)
class Child:
    """A sampled child: its number in the search, its 50 decisions and their log-probability at sampling
    (under the policy that sampled it, for PPO's ratio when its reward arrives)."""
    number: int
    decisions: tuple[int, ...]
    log_prob: float

    @property
    def genotype(self) -> Genotype:
        return genotype_of(self.decisions)

    def to_dict(self) -> dict:
        return {"number": self.number, "decisions": list(self.decisions), "log_prob": self.log_prob}

    @classmethod
    def from_dict(cls, data: dict) -> Child:
        return cls(int(data["number"]), tuple(int(d) for d in data["decisions"]), float(data["log_prob"]))
