"""optim.replica_batch: batch norm and batch-level draws per group of the papers' per-GPU images (ghost batch
norm), in one process, whatever the number of processes that share the batch."""

import pytest
import torch
from torch import nn

from worker.engine.batch_norm import GhostBatchNorm2d
from worker.engine.regularizers import drop_path, shake_drop, shake_shake, stochastic_depth
from worker.engine.replicas import BatchLayout, group_sizes, layout_for, using_layout
from worker.engine.spec import SpecError, paper_defaults, parse_spec


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ------------------------------------------------------------------------------------------- the spec

def errors_of(data) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return {e["field"]: e["message"] for e in info.value.errors}


def test_a_batch_that_is_not_a_multiple_of_replica_batch_names_the_field():
    errors = errors_of({"model": {"arch": "pyramidnet"}, "optim": {"batch_size": 96, "replica_batch": 64}})
    assert list(errors) == ["optim.replica_batch"]
    assert "multiple" in errors["optim.replica_batch"] and "96" in errors["optim.replica_batch"]


@pytest.mark.parametrize(("arch", "dataset", "batch", "replica"), [
    ("shake_resnet", "cifar10", 128, 64),  # 2 GPUs x 64 (xgastaldi/shake-shake README)
    ("shake_resnext", "cifar100", 32, 16),  # 2 GPUs x 16 (same README)
    ("pyramidnet", "cifar100", 128, 32),  # 4 GPUs x 32 (imenurok/ShakeDrop README)
    ("resnet", "cifar10", 128, 128),
    ("wrn", "cifar10", 128, 128),
    ("nasnet", "cifar10", 32, 32),
])
def test_the_papers_split_is_the_default_with_the_papers_batch(arch, dataset, batch, replica):
    spec = parse_spec({"dataset": {"name": dataset}, "model": {"arch": arch}})
    assert (spec.optim.batch_size, spec.optim.replica_batch) == (batch, replica)
    assert spec.optim.replicas == batch // replica
    assert paper_defaults(arch, dataset)["optim"]["replica_batch"] == replica


def test_a_batch_of_ones_own_is_one_group_unless_told():
    spec = parse_spec({"model": {"arch": "shake_resnet"}, "optim": {"batch_size": 32}})
    assert spec.optim.replica_batch == 32
    spec = parse_spec({"model": {"arch": "shake_resnet"}, "optim": {"batch_size": 32, "replica_batch": 8}})
    assert spec.optim.replica_batch == 8
    spec = parse_spec({"model": {"arch": "shake_resnet"}, "optim": {"epochs": 3}})
    assert (spec.optim.batch_size, spec.optim.replica_batch) == (128, 64)


def test_replica_batch_enters_the_spec_key():
    from backend.store import spec_key

    one = parse_spec({"model": {"arch": "shake_resnet"}, "optim": {"batch_size": 128, "replica_batch": 128}})
    two = parse_spec({"model": {"arch": "shake_resnet"}, "optim": {"batch_size": 128, "replica_batch": 64}})
    assert spec_key(one) != spec_key(two)


def test_a_search_that_proposes_a_batch_size_proposes_one_group_unless_it_proposes_the_split_too():
    from backend.searches.space import apply_params

    base = parse_spec({"model": {"arch": "shake_resnet"}}).model_dump(mode="json")  # 128 in groups of 64
    assert parse_spec(apply_params(base, {"optim.batch_size": 32})).optim.replica_batch == 32
    both = apply_params(base, {"optim.batch_size": 32, "optim.replica_batch": 16})
    assert parse_spec(both).optim.replica_batch == 16
    assert parse_spec(apply_params(base, {"optim.lr": 0.1})).optim.replica_batch == 64


# ------------------------------------------------------------------------------------------- layouts

def test_groups_split_a_batch_as_data_parallel_table_does():
    assert group_sizes(128, 2) == (64, 64)
    assert group_sizes(80, 2) == (40, 40)  # CIFAR's last batch of 50000 at 128
    assert group_sizes(29, 4) == (8, 7, 7, 7)
    assert sum(group_sizes(1437 % 64, 4)) == 1437 % 64


def test_processes_hold_consecutive_groups():
    assert layout_for(128, 128, 32, rank=1, world=2) == BatchLayout((32, 32, 32, 32), first=2, count=2)
    layout = layout_for(29, 32, 8, rank=1, world=2)
    assert (layout.offset, layout.local_size, layout.local_sizes) == (15, 14, (7, 7))
    with pytest.raises(ValueError, match="replica_batch"):
        layout_for(128, 128, 64, rank=0, world=4)  # 2 groups cannot be shared by 4 processes


# -------------------------------------------------------------------------------------- ghost batch norm

def ghost_and_plain(channels=3):
    ghost, plain = GhostBatchNorm2d(channels), nn.BatchNorm2d(channels)
    with torch.no_grad():
        for bn in (ghost, plain):
            bn.weight.copy_(torch.tensor([1.5, 0.5, 2.0]))
            bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    return ghost, plain


def test_ghost_batch_norm_normalises_each_group_by_its_own_statistics():
    ghost, plain = ghost_and_plain()
    x = torch.randn(16, 3, 5, 5) * 3 + torch.arange(16.0).view(16, 1, 1, 1)  # groups with different means
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    with using_layout(layout_for(16, 16, 4)):
        y = ghost(x1)
    expected = torch.cat([plain(group) for group in x2.split(4)])
    assert torch.allclose(y, expected, atol=1e-5)
    weights = torch.randn_like(y)
    (y * weights).sum().backward()
    (expected * weights).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-5)
    _, whole_batch = ghost_and_plain()
    assert not torch.allclose(y, whole_batch(x), atol=1e-2)  # over the whole batch: not the same


def test_ghost_running_statistics_are_the_first_groups_as_the_papers_first_gpu_kept():
    ghost, plain = ghost_and_plain()
    x = torch.randn(12, 3, 4, 4) + torch.arange(12.0).view(12, 1, 1, 1)
    with using_layout(layout_for(12, 12, 4)):
        ghost(x)
    plain(x[:4])
    assert torch.allclose(ghost.running_mean, plain.running_mean)
    assert torch.allclose(ghost.running_var, plain.running_var)
    assert ghost.num_batches_tracked.item() == 1


def test_an_uneven_last_batch_is_normalised_per_group_too():
    ghost, plain = ghost_and_plain()
    x = torch.randn(29, 3, 4, 4) + torch.arange(29.0).view(29, 1, 1, 1)
    with using_layout(layout_for(29, 32, 8)):
        y = ghost(x)
    expected = torch.cat([plain(group) for group in x.split([8, 7, 7, 7])])
    assert torch.allclose(y, expected, atol=1e-5)


def test_one_group_or_no_layout_is_plain_batch_norm_to_the_bit():
    ghost, plain = ghost_and_plain()
    x = torch.randn(8, 3, 4, 4)
    with using_layout(layout_for(8, 8, 8)):
        assert torch.equal(ghost(x), plain(x))
    assert torch.equal(ghost(x), plain(x))
    assert torch.equal(ghost.running_var, plain.running_var)


def test_ghost_batch_norm_keeps_channels_last_and_bf16():
    ghost, _ = ghost_and_plain()
    x = torch.randn(8, 3, 4, 4).contiguous(memory_format=torch.channels_last).bfloat16()
    with using_layout(layout_for(8, 8, 2)):
        y = ghost(x)
    assert y.dtype == torch.bfloat16 and y.is_contiguous(memory_format=torch.channels_last)


# -------------------------------------------------------------------------------------- draws per group

def test_batch_level_shake_shake_draws_one_alpha_and_beta_per_group():
    b1 = torch.ones(16, 1, 1, 1, requires_grad=True)
    b2 = torch.zeros(16, 1, 1, 1, requires_grad=True)
    with using_layout(layout_for(16, 16, 4)):
        alpha = shake_shake(b1, b2, level="batch")
    alpha.sum().backward()
    beta = b1.grad
    for values in (alpha.detach().flatten(), beta.flatten()):
        groups = values.view(4, 4)
        assert torch.equal(groups, groups[:, :1].expand(4, 4))  # one value within a group
        assert groups[:, 0].unique().numel() == 4  # another in each group


@pytest.mark.parametrize("level", ["batch", "image", "channel", "pixel"])
def test_a_process_draws_its_slice_of_what_one_process_draws(level):
    x = torch.ones(32, 2, 3, 3)

    def draw(layout, part):
        torch.manual_seed(7)
        with using_layout(layout):
            return shake_drop(part, survival_prob=0.5, level=level, gate_level="batch")

    whole = draw(layout_for(32, 32, 8), x)
    halves = [draw(layout_for(32, 32, 8, rank=r, world=2), x[:16]) for r in (0, 1)]
    assert torch.equal(torch.cat(halves), whole)


def test_stochastic_depth_and_drop_path_follow_the_layout_too():
    x = torch.ones(8, 2, 2, 2)

    def both(layout, part):
        torch.manual_seed(3)
        with using_layout(layout):
            return stochastic_depth(part, survival_prob=0.5, level="batch"), drop_path(part, 0.5)

    whole = both(layout_for(8, 8, 2), x)
    halves = [both(layout_for(8, 8, 2, rank=r, world=2), x[:4]) for r in (0, 1)]
    for i in range(2):
        assert torch.equal(torch.cat([h[i] for h in halves]), whole[i])


@pytest.mark.slow
def test_groups_compile_into_one_graph_per_batch_size_without_breaks():
    from torch._dynamo.utils import counters

    from worker.engine.models import build_model

    spec = parse_spec({"dataset": {"name": "synthetic"}, "model": {"arch": "shake_resnet", "depth": 8, "width": 4},
                       "regularization": {"method": "shake_shake", "level": "batch"},
                       "optim": {"batch_size": 32, "replica_batch": 8}})
    model = build_model(spec)
    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(model, backend="aot_eager", dynamic=False)
    x = torch.randn(32, 3, 32, 32)
    try:
        for n in (32, 29, 32):  # full batches and an epoch's uneven last batch
            outputs = []
            for forward in (compiled, model):
                torch.manual_seed(1)
                with using_layout(layout_for(n, 32, 8)):
                    outputs.append(forward(x[:n]))
            # Same draws and statistics; eager mixes with one lerp where the compiled graph keeps the
            # straight-through form, so the two round differently in the last bits (test_regularizers.py).
            assert torch.allclose(*outputs, rtol=1e-5, atol=1e-6)
        assert counters["stats"]["unique_graphs"] == 2 and not counters["graph_break"]
    finally:
        torch._dynamo.reset()
