"""NASNet cells as part of the spec (`model.genotype`): every operation of the paper's search space, any
genotype of the space building and training, NASNet-A as the default with today's counts and spec keys,
and bad genotypes named by block and field."""

import json
import random
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from backend.store import spec_key
from tests.migration_files import load_migration
from worker.engine.genotype import NASNET_A, OPERATIONS
from worker.engine.models import build_model
from worker.engine.models.nasnet import Cell, NASNetCIFAR, _operation
from worker.engine.spec import SpecError, parse_spec
from worker.nas.space import genotype_of, random_decisions


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def count_without_aux(model: NASNetCIFAR) -> int:
    return sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in model.aux_head.parameters())


def nasnet_spec(**model) -> dict:
    return {"model": {"arch": "nasnet", **model}, "regularization": {"method": "scheduled_drop_path"}}


def genotype_dict(**changes) -> dict:
    """NASNet-A as JSON with `changes` applied: {"normal.blocks.1.op_1": "conv_9x9"}."""
    data = NASNET_A.model_dump(mode="json")
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is ...:
            del node[int(last) if isinstance(node, list) else last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return data


# ----------------------------------------------------------------------------------------- operations

def test_the_space_has_the_papers_13_operations():
    assert len(OPERATIONS) == len(set(OPERATIONS)) == 13


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", OPERATIONS)
def test_every_operation_builds_and_passes_gradients(name, stride):
    x = torch.randn(2, 6, 8, 8, requires_grad=True)
    for c_out in (6, 4):  # the same channels, and others (a pool or an identity then needs a 1x1 conv)
        op = _operation(name, 6, c_out, stride)
        y = op(x)
        assert y.shape == (2, c_out, 8 // stride, 8 // stride), (name, stride, c_out)
        (y * torch.randn_like(y)).sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in op.parameters())
        x.grad = None


@pytest.mark.parametrize("name, layers", [
    ("conv_1x3_3x1", [(1, 3), (3, 1)]), ("conv_1x7_7x1", [(1, 7), (7, 1)]), ("conv_3x3", [(3, 3)]),
    ("conv_1x1", [(1, 1)]), ("dil_conv_3x3", [(3, 3)]),
])
def test_convolutions_have_the_papers_kernels(name, layers):
    convs = [m for m in _operation(name, 4, 4, 1).modules() if isinstance(m, nn.Conv2d)]
    assert [m.kernel_size for m in convs] == layers
    assert [m.dilation for m in convs] == [(2, 2) if name == "dil_conv_3x3" else (1, 1)] * len(layers)


def test_a_separable_convolution_is_applied_twice_and_the_max_pools_have_their_windows():
    depthwise = [m for m in _operation("sep_conv_7x7", 4, 4, 2).modules()
                 if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert [(m.kernel_size, m.stride) for m in depthwise] == [((7, 7), (2, 2)), ((7, 7), (1, 1))]
    pools = [m for name in ("max_pool_3x3", "max_pool_5x5", "max_pool_7x7")
             for m in _operation(name, 4, 4, 1).modules() if isinstance(m, nn.MaxPool2d)]
    assert [m.kernel_size for m in pools] == [3, 5, 7]


# ---------------------------------------------------------------------------------------- genotypes

def random_genotypes(n: int, seed: int = 0):
    rng = random.Random(seed)
    return [genotype_of(random_decisions(rng)) for _ in range(n)]


@pytest.mark.parametrize("genotype", random_genotypes(6), ids=lambda g: "")
def test_random_genotypes_build_and_take_a_train_and_an_eval_step(genotype):
    model = NASNetCIFAR(cells=1, filters=4, num_classes=10, genotype=genotype, p_max=0.3)
    model.set_training_progress(0.5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, labels = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    logits, aux_logits = model.train()(x)
    loss = F.cross_entropy(logits, labels) + 0.4 * F.cross_entropy(aux_logits, labels)
    loss.backward()
    # Every parameter is used: an input the genotype never reads is not processed.
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    optimizer.step()
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert out.shape == (4, 10) and torch.isfinite(out).all()


def test_a_block_that_concatenates_doubles_its_channels_and_the_cell_output():
    blocks = [{"input_1": 0, "op_1": "conv_3x3", "input_2": 1, "op_2": "max_pool_5x5", "combine": "concat"},
              *[{"input_1": 0, "op_1": "identity", "input_2": 2, "op_2": "conv_1x7_7x1"}] * 4]
    genotype = genotype_dict(**{"normal.blocks": blocks, "normal.concat": None})
    spec = parse_spec(nasnet_spec(cells=1, filters=8, genotype=genotype))
    assert spec.model.genotype.normal.concat == (3, 4, 5, 6)  # state 2 is read, so it is not concatenated
    cell = Cell(spec.model.genotype.normal, 16, 16, False, 8, False)
    assert cell.out_channels == 4 * 8
    out = cell(torch.randn(2, 16, 8, 8), torch.randn(2, 16, 8, 8), None)
    assert out.shape == (2, 32, 8, 8)
    with_state_2 = genotype_dict(**{"normal.blocks": blocks, "normal.concat": [2, 3, 4, 5, 6]})
    cell = Cell(parse_spec(nasnet_spec(genotype=with_state_2)).model.genotype.normal, 16, 16, False, 8, False)
    assert cell.out_channels == 16 + 4 * 8


def test_the_reduction_cell_halves_the_resolution_with_any_genotype():
    for genotype in random_genotypes(3, seed=1):
        cell = Cell(genotype.reduction, 12, 12, False, 8, True)
        assert cell(torch.randn(2, 12, 8, 8), torch.randn(2, 12, 8, 8), None).shape[2:] == (4, 4)


# ------------------------------------------------------------------------------- NASNet-A, as before

def test_nasnet_a_as_a_genotype_has_exactly_todays_parameter_counts_and_weights():
    explicit = build_model(parse_spec(nasnet_spec(genotype=NASNET_A.model_dump(mode="json"))))
    assert count_without_aux(explicit) == 3_346_538
    default = build_model(parse_spec(nasnet_spec()))
    assert {k: v.shape for k, v in explicit.state_dict().items()} == \
        {k: v.shape for k, v in default.state_dict().items()}


MIGRATION = load_migration()


def test_nasnet_a_keeps_its_spec_key_and_its_resolved_spec_whether_or_not_it_is_written():
    # Keys computed before `model.genotype` existed (commit 0cea058).
    before = [(nasnet_spec(), "cbaec0df949bebc8cf145c7a3543c114e13347b16c4db0241c03e1f86e374e2f"),
              ({"dataset": {"name": "digits"}, "model": {"arch": "nasnet", "cells": 1, "filters": 8},
                "optim": {"epochs": 2}}, "9b1a6cec088311ac2c69bc2ec2fb437e999b856c7c61b64baed15705f29053b6")]
    for spec, key in before:
        written = {**spec, "model": {**spec["model"], "genotype": NASNET_A.model_dump(mode="json")}}
        for data in (spec, written):
            resolved = parse_spec(data)
            dumped = resolved.model_dump(mode="json")
            assert "genotype" not in dumped["model"]
            # optim.replica_batch entered every key later (migration 0007 recomputed the stored ones): written
            # as it was stored before that field, the spec hashes to its key of before `genotype`.
            assert MIGRATION.spec_key(MIGRATION.without_replica_batch(dumped)) == key
            assert spec_key(resolved) == spec_key(parse_spec(spec))


def test_another_genotype_is_another_spec_and_survives_a_round_trip():
    genotype = genotype_dict(**{"normal.blocks.0.op_1": "conv_1x3_3x1"})
    spec = parse_spec(nasnet_spec(genotype=genotype))
    assert spec_key(spec) != spec_key(parse_spec(nasnet_spec()))
    dumped = spec.model_dump(mode="json")
    assert dumped["model"]["genotype"]["normal"]["blocks"][0]["op_1"] == "conv_1x3_3x1"
    assert parse_spec(dumped) == spec and spec_key(parse_spec(dumped)) == spec_key(spec)


# ------------------------------------------------------------------------------------- bad genotypes

@pytest.mark.parametrize("changes, field, words", [
    ({"normal.blocks.1.op_1": "conv_9x9"}, "model.genotype.normal.blocks.1.op_1", "sep_conv_7x7"),
    ({"reduction.blocks.2.input_2": 5}, "model.genotype.reduction.blocks.2.input_2",
     "block 2 reads state 5, which does not exist yet"),
    ({"normal.blocks.0.input_1": 2}, "model.genotype.normal.blocks.0.input_1", "states 0-1"),
    ({"normal.blocks.4": ...}, "model.genotype.normal.blocks", "a cell has 5 blocks, got 4"),
    ({"reduction.blocks.3.combine": "mul"}, "model.genotype.reduction.blocks.3.combine", "'concat'"),
    ({"normal.concat": [1, 2, 9]}, "model.genotype.normal.concat.2", "state 9 does not exist"),
    ({"normal.concat": [-1, 2, 3, 4, 5, 6]}, "model.genotype.normal.concat.0", "greater than or equal to 0"),
    ({"normal.blocks.2.input_2": -1}, "model.genotype.normal.blocks.2.input_2", "greater than or equal to 0"),
    ({"normal.concat": [2, 3, 4, 5]}, "model.genotype.normal.concat", "block 4's result (state 6)"),
    ({"normal.blocks.0.op": "identity"}, "model.genotype.normal.blocks.0.op", "Extra inputs"),
])
def test_a_bad_genotype_is_an_error_naming_the_block_and_the_field(changes, field, words):
    with pytest.raises(SpecError) as caught:
        parse_spec(nasnet_spec(genotype=genotype_dict(**changes)))
    assert [e["field"] for e in caught.value.errors][0] == field
    assert words in str(caught.value)


def test_the_cli_names_the_block_and_the_field_of_a_bad_genotype_in_one_line(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(nasnet_spec(genotype=genotype_dict(**{"reduction.blocks.4.input_1": 7}))))
    result = subprocess.run([sys.executable, "-m", "worker.engine", "validate", str(spec)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "model.genotype.reduction.blocks.4.input_1: block 4 reads state 7" in result.stderr
