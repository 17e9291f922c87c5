"""NASNet cells as data: the genotype of `model.genotype` (Zoph et al. 2018, arXiv:1707.07012, section 3).

This module is torch-free (the spec and the API import it). A cell takes two hidden states, h_i (state 0,
the previous cell's output) and h_{i-1} (state 1, the output of the cell before that), and makes B = 5
blocks. Each block picks two states among those that exist so far (block b, counted from 0, picks among
the 2 + b states 0 .. 1 + b), applies an operation to each and combines the two results, by element-wise
addition or by concatenation along channels; its result is state 2 + b. The cell's output concatenates the
states listed in `concat`. Left out, `concat` is the paper's rule: the block results that no block reads.
NASNet-A needs explicit lists (TF-slim's `used_hiddenstates`: states 1-6 in the normal cell, although
state 1 feeds operations, and 3-6 in the reduction cell).

State numbering and NASNet-A's cells are TF-slim's (`nets/nasnet/nasnet_utils.py`).
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = ["BLOCKS", "COMBINES", "OPERATIONS", "Block", "CellGenotype", "Genotype", "NASNET_A"]

BLOCKS = 5  # B: the paper's cells have 5 blocks

# The paper's 13 operations (section 3), in its order.
Operation = Literal[
    "identity", "conv_1x3_3x1", "conv_1x7_7x1", "dil_conv_3x3", "avg_pool_3x3", "max_pool_3x3", "max_pool_5x5",
    "max_pool_7x7", "conv_1x1", "conv_3x3", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
]
OPERATIONS: tuple[str, ...] = get_args(Operation)
Combine = Literal["add", "concat"]
COMBINES: tuple[str, ...] = get_args(Combine)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Block(_Frozen):
    """One block: `op_1(state input_1)` combined with `op_2(state input_2)`."""
    input_1: int = Field(ge=0, description="first hidden state: 0 h_i, 1 h_{i-1}, 2 + b block b's result")
    op_1: Operation = Field(description="operation on the first hidden state")
    input_2: int = Field(ge=0, description="second hidden state")
    op_2: Operation = Field(description="operation on the second hidden state")
    combine: Combine = Field("add", description="add: element-wise sum; concat: along channels")


def _error_at(loc: tuple[str | int, ...], value, message: str) -> ValidationError:
    """A validation error located at `loc` inside the cell, so that it names the block and the field."""
    return ValidationError.from_exception_data("CellGenotype", [InitErrorDetails(
        type=PydanticCustomError("value_error", "Value error, {message}", {"message": message}),
        loc=loc, input=value)])


class CellGenotype(_Frozen):
    """A normal or reduction cell: B = 5 blocks and the states concatenated into its output."""
    blocks: tuple[Block, ...] = Field(description="the cell's 5 blocks, in order")
    concat: tuple[Annotated[int, Field(ge=0)], ...] | None = Field(
        None, description="states concatenated into the output; left out: the block results no block reads")

    @model_validator(mode="after")
    def _blocks_read_existing_states(self):
        if len(self.blocks) != BLOCKS:
            raise _error_at(("blocks",), len(self.blocks),
                            f"a cell has {BLOCKS} blocks, got {len(self.blocks)}")
        for b, block in enumerate(self.blocks):
            for field in ("input_1", "input_2"):
                state = getattr(block, field)
                if state > 1 + b:
                    raise _error_at(("blocks", b, field), state,
                                    f"block {b} reads state {state}, which does not exist yet: block {b} "
                                    f"chooses among states 0-{1 + b} (0 h_i, 1 h_{{i-1}}, 2.. earlier blocks)")
        if self.concat is None:
            read = {s for block in self.blocks for s in (block.input_1, block.input_2)}
            object.__setattr__(self, "concat", tuple(s for s in range(2, 2 + BLOCKS) if s not in read))
        elif not self.concat:
            raise _error_at(("concat",), [], "concat lists at least one state")
        else:
            for i, state in enumerate(self.concat):
                if state > 1 + BLOCKS:
                    raise _error_at(("concat", i), state, f"state {state} does not exist: a cell has states "
                                    f"0-{1 + BLOCKS}")
                if state in self.concat[:i]:
                    raise _error_at(("concat", i), state, f"state {state} is listed twice")
        read = {s for block in self.blocks for s in (block.input_1, block.input_2)}
        for b in range(BLOCKS):
            if 2 + b not in read and 2 + b not in self.concat:
                raise _error_at(("concat",), list(self.concat), f"block {b}'s result (state {2 + b}) is neither "
                                "read by a later block nor concatenated into the output")
        return self

    @property
    def ops(self) -> tuple[tuple[str, int], ...]:
        """(operation, input state) of every branch, two per block (TF-slim's operations and used states)."""
        return tuple(pair for b in self.blocks for pair in ((b.op_1, b.input_1), (b.op_2, b.input_2)))


class Genotype(_Frozen):
    """The two searched cells of a NASNet: the normal cell and the reduction cell."""
    normal: CellGenotype
    reduction: CellGenotype = Field(description="its operations on h_i and h_{i-1} have stride 2")


def _cell(blocks: list[tuple[int, str, int, str]], concat: tuple[int, ...]) -> CellGenotype:
    return CellGenotype(blocks=tuple(Block(input_1=i1, op_1=o1, input_2=i2, op_2=o2) for i1, o1, i2, o2 in blocks),
                        concat=concat)


NASNET_A = Genotype(
    # TF-slim NasNetANormalCell; the paper's figure 4 (left).
    normal=_cell([(0, "sep_conv_5x5", 1, "sep_conv_3x3"),
                  (1, "sep_conv_5x5", 1, "sep_conv_3x3"),
                  (0, "avg_pool_3x3", 1, "identity"),
                  (1, "avg_pool_3x3", 1, "avg_pool_3x3"),
                  (0, "sep_conv_3x3", 0, "identity")], concat=(1, 2, 3, 4, 5, 6)),
    # TF-slim NasNetAReductionCell; the paper's figure 4 (right).
    reduction=_cell([(0, "sep_conv_5x5", 1, "sep_conv_7x7"),
                     (0, "max_pool_3x3", 1, "sep_conv_7x7"),
                     (0, "avg_pool_3x3", 1, "sep_conv_5x5"),
                     (3, "identity", 2, "avg_pool_3x3"),
                     (2, "sep_conv_3x3", 0, "max_pool_3x3")], concat=(3, 4, 5, 6)),
)
