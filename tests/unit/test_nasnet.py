"""NASNet-A for CIFAR (Zoph et al. 2018, arXiv:1707.07012) and its ScheduledDropPath (TF-slim's nasnet_utils).

Parameter counts are weights, BN gamma/beta and FC (`model.parameters()`), without the auxiliary head,
which exists only for training and which the paper's counts leave out. The drop-path checks record every
call the cells make to `drop_path` (its keep probability, input and output) through a wrapper.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from worker.engine.models import build_model, nasnet
from worker.engine.models.nasnet import (
    NORMAL_CELL,
    REDUCTION_CELL,
    Cell,
    NASNetCIFAR,
    build,
    keep_probability,
)
from worker.engine.spec import NASNetModel, NoRegularization, ScheduledDropPathReg, parse_spec


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_without_aux(model: NASNetCIFAR) -> int:
    return count(model) - count(model.aux_head)


def tiny(**kwargs) -> NASNetCIFAR:
    return NASNetCIFAR(cells=1, filters=8, num_classes=10, **kwargs)


def images(n=4):
    return torch.randn(n, 3, 32, 32)


@pytest.fixture
def drop_path_calls(monkeypatch):
    """Every drop_path call the cells make, as (keep, input, output)."""
    calls = []

    def recording(x, keep_prob, *, training=True):
        y = nasnet_drop_path(x, keep_prob, training=training)
        calls.append((float(keep_prob), x.detach(), y.detach()))
        return y

    nasnet_drop_path = nasnet.drop_path
    monkeypatch.setattr(nasnet, "drop_path", recording)
    return calls


# ------------------------------------------------------------------------------------ parameter counts

def imagenet_nasnet(stem_multiplier: int, filters: int, cells: int, skip_reduction_layer_input: bool):
    """TF-slim's `build_nasnet_mobile/large` assembled from our cells: stem conv, two reduction stem cells
    at 1/4 and 1/2 of the filters, then `_build_nasnet_base` with num_cells = 3 * cells, 1000 classes."""
    c_stem = 32 * stem_multiplier
    layers = [nn.Conv2d(3, c_stem, 3, 2, bias=False), nn.BatchNorm2d(c_stem)]
    outputs = [(None, 0), (c_stem, 0)]  # (channels, resolution level) as TF-slim's cell_outputs

    def add(genotype, inputs, cell_filters, reduction):
        (c_prev, level_prev), (c_in, level) = inputs
        cell = Cell(genotype, c_in, c_prev, level_prev < level, cell_filters, reduction)
        layers.append(cell)
        outputs.append((cell.out_channels, level + reduction))

    for scaling in (4, 2):
        add(REDUCTION_CELL, outputs[-2:], filters // scaling, True)
    scaling = 1
    for cell_num in range(3 * cells):
        prev = outputs[-2]
        if cell_num in (cells, 2 * cells):
            scaling *= 2
            add(REDUCTION_CELL, outputs[-2:], filters * scaling, True)
        if not skip_reduction_layer_input:
            prev = outputs[-2]
        add(NORMAL_CELL, [prev, outputs[-1]], filters * scaling, False)
    layers.append(nn.Linear(outputs[-1][0], 1000))
    return nn.ModuleList(layers)


@pytest.mark.parametrize("config, expected", [
    ((1, 44, 4, False), 5_289_978),    # NASNet-A Mobile (4 @ 1056)
    ((3, 168, 6, True), 88_753_150),   # NASNet-A Large (6 @ 4032)
], ids=["mobile", "large"])
def test_cells_give_tf_slims_imagenet_parameter_counts_exactly(config, expected):
    # The trainable counts of TF-slim's (and Keras') ImageNet NASNet-A: an external check of every cell part.
    assert count(imagenet_nasnet(*config)) == expected


def test_nasnet_6_32_has_the_papers_3_3m_parameters_without_aux_head():
    assert abs(count_without_aux(NASNetCIFAR(6, 32, 10)) / 3.3e6 - 1) < 0.03


def test_nasnet_7_96_has_tf_slims_count_not_the_papers_27_6m():
    # TF-slim's CIFAR builder at N=7, F=96 (the paper's "7 @ 2304"); the paper's 27.6M is 18% lower and
    # not reachable from 3.3M at N=6, F=32 by the cells' F^2 scaling (see the module docstring).
    assert count_without_aux(NASNetCIFAR(7, 96, 10)) == 32_590_954


def test_penultimate_layer_has_24_f_filters():
    # The paper's "N @ 768" for F=32: 6 branches of 4F filters in the last stage.
    assert NASNetCIFAR(2, 32, 10).classifier.in_features == 768


def test_network_has_3n_normal_and_2_reduction_cells():
    model = NASNetCIFAR(3, 8, 10)
    kinds = ["R" if cell.concat == REDUCTION_CELL.concat else "N" for cell in model.cells]
    assert "".join(kinds) == "NNNRNNNRNNN" and model.total_cells == 11


# ------------------------------------------------------------------------------------- train and eval

def test_train_step_gives_logits_aux_logits_and_finite_gradients():
    model = tiny(aux_weight=0.4).train()
    labels = torch.randint(0, 10, (4,))
    logits, aux_logits = model(images())
    loss = F.cross_entropy(logits, labels) + model.aux_weight * F.cross_entropy(aux_logits, labels)
    loss.backward()
    assert logits.shape == aux_logits.shape == (4, 10)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_training_without_aux_weight_returns_logits_only():
    model = tiny(aux_weight=0.0).train()
    assert model.aux_head is None and model(images()).shape == (4, 10)


def test_eval_returns_logits_only_and_is_deterministic():
    model = tiny(p_max=0.9)
    model.set_training_progress(1.0)
    model.eval()
    x = images()
    first = model(x)
    assert isinstance(first, torch.Tensor) and first.shape == (4, 10)
    assert torch.equal(first, model(x))


def test_train_step_works_under_bf16_autocast_and_channels_last():
    model = tiny(p_max=0.4).to(memory_format=torch.channels_last).train()
    model.set_training_progress(0.5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, aux_logits = model(images().to(memory_format=torch.channels_last))
        loss = F.cross_entropy(logits.float(), torch.zeros(4, dtype=torch.long)) + aux_logits.float().mean()
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_build_reads_cells_filters_aux_weight_and_p_max_from_the_spec():
    model = build(NASNetModel(cells=2, filters=12, aux_weight=0.3), ScheduledDropPathReg(p_max=0.25), 100)
    assert (len(model.cells), model.classifier.in_features, model.classifier.out_features) == (8, 288, 100)
    assert model.aux_weight == 0.3 and model.p_max == 0.25


def test_build_model_dispatches_nasnet_specs():
    spec = parse_spec({"model": {"arch": "nasnet", "cells": 1, "filters": 8},
                       "regularization": {"method": "scheduled_drop_path"}})
    model = build_model(spec)
    assert isinstance(model, NASNetCIFAR) and model.aux_weight == 0.4 and model.p_max == 0.4


# ----------------------------------------------------------------------------------- ScheduledDropPath

@pytest.mark.parametrize("cell_num", [0, 19])
def test_keep_probability_is_one_for_every_cell_at_the_start(cell_num):
    assert keep_probability(cell_num, 20, 0.4, 0.0) == 1.0


def test_keep_probability_of_last_cell_is_one_minus_p_max_at_the_end():
    assert keep_probability(19, 20, 0.4, 1.0) == pytest.approx(0.6)


def test_keep_probability_of_first_cell_at_the_end_is_scaled_by_depth():
    assert keep_probability(0, 20, 0.4, 1.0) == pytest.approx(1 - 0.4 / 20)


def test_keep_probability_half_way_is_half_the_final_drop():
    assert keep_probability(19, 20, 0.4, 0.5) == pytest.approx(0.8)
    assert keep_probability(0, 20, 0.4, 0.5) == pytest.approx(1 - 0.2 / 20)


def test_keep_probability_stops_falling_after_the_end_of_training():
    assert keep_probability(19, 20, 0.4, 1.5) == pytest.approx(0.6)


def test_forward_uses_the_keep_probabilities_of_set_training_progress(drop_path_calls):
    model = tiny(p_max=0.4).train()  # N=1: normal, reduction, normal, reduction, normal
    for progress in (0.0, 0.5, 1.0):
        drop_path_calls.clear()
        model.set_training_progress(progress)
        model(images())
        used = sorted({round(keep, 6) for keep, _, _ in drop_path_calls})
        expected = sorted({round(keep_probability(c, 5, 0.4, progress), 6) for c in range(5)})
        assert used == expected


def test_drop_path_applies_to_every_operation_but_the_identity(drop_path_calls):
    model = tiny(p_max=0.4).train()
    model(images())
    # Normal cell: 10 operations, 2 identities; reduction cell: 10 operations, 1 identity.
    assert len(drop_path_calls) == 3 * 8 + 2 * 9


def test_dropped_paths_are_zero_and_kept_paths_are_scaled_by_one_over_keep(drop_path_calls):
    model = tiny(p_max=0.9).train()
    model.set_training_progress(1.0)
    model(images(16))
    dropped = kept = 0
    for keep, x, y in drop_path_calls:
        for xi, yi in zip(x, y, strict=True):
            if torch.equal(yi, torch.zeros_like(yi)):
                dropped += 1
            else:
                torch.testing.assert_close(yi, xi / keep)
                kept += 1
    assert dropped > 0 and kept > 0


def test_no_drop_path_when_method_is_none(drop_path_calls):
    model = build(NASNetModel(cells=1, filters=8), NoRegularization(), 10).train()
    model.set_training_progress(1.0)
    model(images())
    assert drop_path_calls == []


def test_training_progress_is_restored_from_the_state_dict():
    model = tiny()
    model.set_training_progress(0.375)
    resumed = tiny()
    resumed.load_state_dict(model.state_dict())
    assert "progress" in model.state_dict() and resumed.progress.item() == 0.375
