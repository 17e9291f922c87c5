"""The model families: the papers' exact parameter counts, shapes, training and eval steps, and where the
regularizers sit (the papers' architectures: docs/engine.md).

Full-size nets are built on the meta device (no memory, no init cost) just to count their parameters;
everything that runs is built tiny.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from worker.engine.models import FAMILIES, build_model, count_parameters
from worker.engine.models.common import ShakeShakeShortcut
from worker.engine.regularizers import ShakeDrop, StochasticDepth, linear_decay
from worker.engine.spec import ARCH_METHODS, parse_spec


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def build(model: dict, method: str = "none", dataset: str = "cifar10", **reg) -> nn.Module:
    return build_model(parse_spec({"dataset": {"name": dataset}, "model": model,
                                   "regularization": {"method": method, **reg}}))


# ------------------------------------------------------------------------------------ parameter counts

PAPER_COUNTS = [  # (model, dataset, parameters): computed from the architecture (V-calc), unless noted
    ({"arch": "shake_resnet", "depth": 26, "width": 32}, "cifar10", 2_923_162),
    ({"arch": "shake_resnet", "depth": 26, "width": 64}, "cifar10", 11_653_978),
    ({"arch": "shake_resnet", "depth": 26, "width": 96}, "cifar10", 26_192_922),
    ({"arch": "shake_resnet", "depth": 26, "width": 112}, "cifar10", 35_640_442),
    ({"arch": "shake_resnet", "depth": 26, "width": 32}, "cifar100", 2_934_772),
    ({"arch": "shake_resnet", "depth": 26, "width": 96}, "cifar100", 26_227_572),
    ({"arch": "shake_resnext", "depth": 29, "cardinality": 4, "base_width": 64}, "cifar100", 34_529_700),
    ({"arch": "pyramidnet", "depth": 110, "alpha": 84, "bottleneck": False}, "cifar10", 3_904_446),
    ({"arch": "pyramidnet", "depth": 110, "alpha": 270, "bottleneck": False}, "cifar10", 28_485_477),
    ({"arch": "pyramidnet", "depth": 110, "alpha": 270, "bottleneck": False}, "cifar100", 28_511_307),
    ({"arch": "pyramidnet", "depth": 164, "alpha": 270, "bottleneck": True}, "cifar10", 27_216_021),
    ({"arch": "pyramidnet", "depth": 272, "alpha": 200, "bottleneck": True}, "cifar10", 26_210_842),
    ({"arch": "pyramidnet", "depth": 272, "alpha": 200, "bottleneck": True}, "cifar100", 26_288_692),
    # Shake-Shake table 3: WRN-28-10 36.5M.
    ({"arch": "wrn", "depth": 28, "widen": 10}, "cifar10", 36_479_194),
    # Counted by hand from the architecture; the papers round them to 34.4M and 68.1M (ResNeXt table 7).
    ({"arch": "resnext", "depth": 29, "cardinality": 8, "base_width": 64}, "cifar10", 34_426_698),
    ({"arch": "resnext", "depth": 29, "cardinality": 16, "base_width": 64}, "cifar10", 68_155_210),
    # He et al. 2016 give 1.7M for both. ResNet-110 with 1x1 projections at the two downsamplings; the
    # zero-padded shortcut (option A) would save their 16*32 + 32*64 weights: 1,727,962.
    ({"arch": "resnet", "depth": 110}, "cifar10", 1_730_522),
    ({"arch": "resnet", "depth": 164, "bottleneck": True}, "cifar10", 1_703_258),
]


@pytest.mark.parametrize(("model", "dataset", "expected"), PAPER_COUNTS,
                         ids=[f"{m['arch']}-{m['depth']}-{d}-{n}" for m, d, n in PAPER_COUNTS])
def test_parameter_count_matches_the_paper(model, dataset, expected):
    with torch.device("meta"):
        net = build(model, dataset=dataset)
    assert count_parameters(net) == expected


def test_count_parameters_leaves_out_batchnorm_running_statistics():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))
    net(torch.zeros(1, 3, 5, 5))
    assert count_parameters(net) == 3 * 4 * 9 + 2 * 4 + (4 * 3 * 3 * 2 + 2)


# ------------------------------------------------------------------------------------------ shapes

SMALLEST = {  # every family at its smallest valid depth, other settings at their defaults
    "resnet": {"arch": "resnet", "depth": 8},
    "resnet_bottleneck": {"arch": "resnet", "depth": 11, "bottleneck": True},
    "wrn": {"arch": "wrn", "depth": 10},
    "resnext": {"arch": "resnext", "depth": 11},
    "shake_resnet": {"arch": "shake_resnet", "depth": 8},
    "shake_resnext": {"arch": "shake_resnext", "depth": 11},
    "pyramidnet": {"arch": "pyramidnet", "depth": 8, "bottleneck": False},
    "pyramidnet_bottleneck": {"arch": "pyramidnet", "depth": 11},
}


def test_every_arch_of_the_spec_has_a_family():
    assert set(FAMILIES) == set(ARCH_METHODS)


@pytest.mark.parametrize("name", SMALLEST)
def test_smallest_depth_maps_a_batch_to_one_logit_per_class(name):
    net = build(SMALLEST[name], dataset="cifar100")
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 100)


# ---------------------------------------------------------------- train and eval steps, every method

TINY = {  # smallest depth and small widths, so every arch x method runs in a blink
    "resnet": {"arch": "resnet", "depth": 8},
    "resnet_bottleneck": {"arch": "resnet", "depth": 11, "bottleneck": True},
    "wrn": {"arch": "wrn", "depth": 10, "widen": 1, "dropout": 0.3},
    "resnext": {"arch": "resnext", "depth": 11, "cardinality": 2, "base_width": 4},
    "shake_resnet": {"arch": "shake_resnet", "depth": 8, "width": 4},
    "shake_resnext": {"arch": "shake_resnext", "depth": 11, "cardinality": 2, "base_width": 4},
    "pyramidnet": {"arch": "pyramidnet", "depth": 8, "alpha": 8, "bottleneck": False},
    "pyramidnet_bottleneck": {"arch": "pyramidnet", "depth": 11, "alpha": 8},
}
CASES = [(name, method) for name, model in TINY.items() for method in ARCH_METHODS[model["arch"]]]
CASE_IDS = [f"{name}-{method}" for name, method in CASES]
SINGLE_BRANCH = [name for name, model in TINY.items() if "shakedrop" in ARCH_METHODS[model["arch"]]]


@pytest.mark.parametrize(("name", "method"), CASES, ids=CASE_IDS)
def test_train_step_gives_every_parameter_a_finite_gradient(name, method):
    net = build(TINY[name], method).train()
    loss = F.cross_entropy(net(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert torch.isfinite(loss)
    for param_name, param in net.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name


@pytest.mark.parametrize(("name", "method"), CASES, ids=CASE_IDS)
def test_eval_step_gives_finite_logits(name, method):
    net = build(TINY[name], method).eval()
    with torch.no_grad():
        logits = net(torch.randn(4, 3, 32, 32))
    assert logits.shape == (4, 10) and torch.isfinite(logits).all()


@pytest.mark.parametrize(("name", "method"), CASES, ids=CASE_IDS)
def test_eval_mode_is_deterministic(name, method):
    net = build(TINY[name], method).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))


@pytest.mark.parametrize(("name", "method"), [c for c in CASES if c[1] != "none"],
                         ids=[i for i, c in zip(CASE_IDS, CASES, strict=True) if c[1] != "none"])
def test_regularizer_randomises_the_training_forward(name, method):
    model = {**TINY[name], "dropout": 0.0} if name == "wrn" else TINY[name]  # only the regularizer draws
    net = build(model, method, level="image").train()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert not torch.equal(net(x), net(x))


def test_training_forward_without_regularizer_is_deterministic():
    net = build(TINY["pyramidnet"]).train()  # the contrast to the test above: BN alone draws nothing
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))


def test_forward_runs_in_channels_last_under_bf16_autocast():
    net = build(TINY["shake_resnext"], "shake_shake").to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 32, 32).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = net(x)
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()


# ------------------------------------------------------------------------- where the regularizers sit

@pytest.mark.parametrize("method", ["shakedrop", "stochastic_depth"])
def test_pyramidnet_survival_probability_decays_linearly_to_p_last(method):
    net = build({"arch": "pyramidnet", "depth": 20, "alpha": 8, "bottleneck": False}, method, p_last=0.3)
    kind = ShakeDrop if method == "shakedrop" else StochasticDepth
    probs = [m.survival_prob for m in net.modules() if isinstance(m, kind)]
    num_blocks = 9  # 3 stages of (20 - 2) / 6
    assert probs == pytest.approx([1 - (l / num_blocks) * (1 - 0.3) for l in range(1, num_blocks + 1)])
    assert probs[0] == pytest.approx(1 - (1 / num_blocks) * 0.7) and probs[-1] == pytest.approx(0.3)


@pytest.mark.parametrize("name", SINGLE_BRANCH)
def test_every_block_carries_its_linearly_decayed_regularizer(name):
    net = build(TINY[name], "shakedrop", p_last=0.5)
    probs = [m.survival_prob for m in net.modules() if isinstance(m, ShakeDrop)]
    assert probs == [linear_decay(l, 3, 0.5) for l in (1, 2, 3)]


@pytest.mark.parametrize("name", SINGLE_BRANCH)
def test_eval_scales_each_branch_by_its_survival_probability(name):
    # Same weights with and without stochastic depth: at test time the branches are scaled by p_l < 1, so
    # the logits differ. Were the modules built but not called, they would be equal.
    plain = build(TINY[name]).eval()
    dropped = build(TINY[name], "stochastic_depth", p_last=0.5).eval()
    dropped.load_state_dict(plain.state_dict())
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(plain(x), dropped(x))


@pytest.mark.parametrize("name", ["resnet", "resnet_bottleneck", "wrn"])
def test_preactivation_branch_ends_in_bn_only_under_shakedrop(name):
    for method, ends_in_bn in (("shakedrop", True), ("stochastic_depth", False), ("none", False)):
        net = build(TINY[name], method)
        assert [isinstance(block.branch[-1], nn.BatchNorm2d) for block in net.blocks] == [ends_in_bn] * 3


@pytest.mark.parametrize("name", ["resnext", "pyramidnet", "pyramidnet_bottleneck"])
def test_post_activation_branch_ends_in_bn_for_every_method(name):
    for method in ARCH_METHODS[TINY[name]["arch"]]:
        net = build(TINY[name], method)
        assert all(isinstance(block.branch[-1], nn.BatchNorm2d) for block in net.blocks)


# ---------------------------------------------------------------------------- the Shake-Shake shortcut

def identity_shortcut(channels: int, stride: int) -> ShakeShakeShortcut:
    """A shortcut whose 1x1 convs copy their input and whose BN (eval, fresh statistics) divides by
    sqrt(1 + eps), so its output shows which pixels each path sampled."""
    shortcut = ShakeShakeShortcut(channels, 2 * channels, stride).eval()
    with torch.no_grad():
        for conv in (shortcut.path1, shortcut.path2):
            conv.weight.copy_(torch.eye(channels).view(channels, channels, 1, 1))
    return shortcut


def test_shake_shortcut_concatenates_even_pixels_and_odd_pixels():
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        y = identity_shortcut(3, stride=2)(x) * (1 + 1e-5) ** 0.5
    assert y.shape == (2, 6, 16, 16)
    assert torch.allclose(y[:, :3], x[:, :, 0::2, 0::2], atol=1e-6)  # path 1: pixels 0, 2, ..., 30
    assert torch.allclose(y[:, 3:], x[:, :, 1::2, 1::2], atol=1e-6)  # path 2: pixels 1, 3, ..., 31


def test_shake_shortcut_shifts_path2_up_left_filling_zeros_at_stride_1():
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        y = identity_shortcut(3, stride=1)(x) * (1 + 1e-5) ** 0.5
    assert torch.allclose(y[:, 3:, :-1, :-1], x[:, :, 1:, 1:], atol=1e-6)
    assert y[:, 3:, -1, :].abs().max() == 0 and y[:, 3:, :, -1].abs().max() == 0


@pytest.mark.parametrize("name", ["shake_resnet", "shake_resnext"])
def test_downsampling_skip_of_two_branch_nets_sees_the_odd_pixels(name):
    net = build(TINY[name]).eval()
    block = net.blocks[len(net.blocks) // 3]  # the first block of stage 2, which halves the resolution
    in_channels = next(m for m in block.branch1.modules() if isinstance(m, nn.Conv2d)).in_channels
    x = torch.rand(2, in_channels, 16, 16)
    odd_changed = x.clone()
    odd_changed[:, :, 1::2, 1::2] += 1.0
    with torch.no_grad():
        assert not torch.allclose(block.skip(x), block.skip(odd_changed))


# ---------------------------------------------------------------------------- the PyramidNet shortcut

@pytest.mark.parametrize(("stride", "bottleneck"), [(1, False), (2, False), (2, True), (1, True)])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_pyramid_block_adds_the_zero_padded_shortcut(stride, bottleneck, memory_format):
    from worker.engine.models.pyramidnet import PyramidBlock
    from worker.engine.regularizers import ShakeDrop
    block = PyramidBlock(4, 6, stride, bottleneck, ShakeDrop(0.5)).train().to(memory_format=memory_format)
    x = torch.randn(4, 4, 8, 8).contiguous(memory_format=memory_format).requires_grad_()
    torch.manual_seed(3)
    y = block(x)
    upstream = torch.randn(y.shape)
    (grad,) = torch.autograd.grad(y, x, upstream)
    # The paper's shortcut written out: average pool where the block strides, zeros for the added channels.
    x2 = x.detach().clone().requires_grad_()
    torch.manual_seed(3)
    shortcut = x2 if stride == 1 else F.avg_pool2d(x2, 2, stride, ceil_mode=True)
    expected = F.pad(shortcut, (0, 0, 0, 0, 0, y.shape[1] - 4)) + block.regularizer(block.branch(x2))
    (expected_grad,) = torch.autograd.grad(expected, x2, upstream)
    assert y.shape[1] > 4
    torch.testing.assert_close(y, expected)  # ShakeDrop's scaling is folded into the add: rounded once
    assert torch.allclose(grad, expected_grad, rtol=1e-5, atol=1e-6)


def _scales(level: str, shape, dtype=torch.float64):
    """ShakeDrop-like forward and backward scales for a branch of `shape`, at `level`."""
    from worker.engine.regularizers import _draw_shape
    draw = _draw_shape(torch.empty(shape), level)
    return torch.rand(draw, dtype=dtype) * 2 - 1, torch.rand(draw, dtype=dtype)


@pytest.mark.parametrize("extra", [0, 3])
@pytest.mark.parametrize("level", ["batch", "image", "channel", "pixel"])
def test_folded_shakedrop_add_has_the_gradients_of_scaling_then_adding(extra, level):
    from worker.engine.models.pyramidnet import _AddToFirstChannels
    branch = torch.randn(3, 4 + extra, 5, 5, dtype=torch.float64, requires_grad=True)
    shortcut = torch.randn(3, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    forward_scale, backward_scale = _scales(level, branch.shape)
    # One scale both ways is an ordinary function: its backward is its true Jacobian.
    assert torch.autograd.gradcheck(lambda b, s: _AddToFirstChannels.apply(b, s, backward_scale, backward_scale),
                                    (branch, shortcut))
    # Two scales: the straight-through form's values and, bitwise, its gradients.
    y = _AddToFirstChannels.apply(branch, shortcut, forward_scale, backward_scale)
    straight = branch * backward_scale + (branch * (forward_scale - backward_scale)).detach()
    expected = F.pad(shortcut, (0, 0, 0, 0, 0, extra)) + straight
    upstream = torch.randn(y.shape, dtype=torch.float64)
    grads = torch.autograd.grad(y, (branch, shortcut), upstream)
    expected_grads = torch.autograd.grad(expected, (branch, shortcut), upstream)
    torch.testing.assert_close(y, expected)
    assert all(torch.equal(g, e) for g, e in zip(grads, expected_grads, strict=True))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_folded_shakedrop_add_keeps_the_layout_and_dtype(dtype):
    from worker.engine.models.pyramidnet import _AddToFirstChannels
    branch = torch.randn(4, 6, 8, 8, dtype=dtype).contiguous(memory_format=torch.channels_last).requires_grad_()
    shortcut = torch.randn(4, 4, 8, 8, dtype=dtype).contiguous(memory_format=torch.channels_last).requires_grad_()
    forward_scale, backward_scale = _scales("image", branch.shape, dtype)
    y = _AddToFirstChannels.apply(branch, shortcut, forward_scale, backward_scale)
    y.backward(torch.ones_like(y))
    assert y.dtype == dtype and y.is_contiguous(memory_format=torch.channels_last)
    assert shortcut.grad.is_contiguous(memory_format=torch.channels_last)
    # eager ShakeDrop's own two ops, scale then padded add; addcmul rounds once where they round twice
    expected = F.pad(shortcut, (0, 0, 0, 0, 0, 2)) + branch * forward_scale
    torch.testing.assert_close(y, expected, **({"rtol": 2e-2, "atol": 2e-2} if dtype == torch.bfloat16 else {}))
    assert torch.equal(branch.grad, torch.ones_like(branch) * backward_scale)


@pytest.mark.parametrize("stride", [1, 2])
def test_pyramid_block_folds_shakedrop_into_its_addition_in_training_only(monkeypatch, stride):
    from worker.engine.models import pyramidnet
    block = pyramidnet.PyramidBlock(8, 8, stride, False, ShakeDrop(0.5)).train()
    x = torch.randn(4, 8, 8, 8, requires_grad=True)
    torch.manual_seed(3)
    y = block(x)
    assert type(y.grad_fn).__name__ == "_AddToFirstChannelsBackward"  # no channel added: the identity's add too
    upstream = torch.randn(y.shape)
    (grad,) = torch.autograd.grad(y, x, upstream)
    # the compiled path's form (straight-through regularizer, pad and add), with the same draws
    from worker.engine import regularizers
    monkeypatch.setattr(pyramidnet, "_compiling", lambda: True)
    monkeypatch.setattr(regularizers, "_compiling", lambda: True)
    torch.manual_seed(3)
    expected = block(x)
    (expected_grad,) = torch.autograd.grad(expected, x, upstream)
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(grad, expected_grad)
    monkeypatch.undo()
    with torch.no_grad():  # eval: the expected scale, survival_prob for the default ranges
        shortcut = x if stride == 1 else F.avg_pool2d(x, 2, stride, ceil_mode=True)
        torch.testing.assert_close(block.eval()(x), shortcut + 0.5 * block.branch(x))


def test_pyramid_block_takes_a_regularizer_whose_output_is_a_view():
    # The benchmark's reference ShakeDrop (an autograd.Function) returns its input as-is when the gate is open:
    # autograd forbids adding into such a view in place, so the block pads and adds instead.
    from worker.engine.models.pyramidnet import PyramidBlock

    class ViewOf(nn.Module):
        def forward(self, x):
            return x.view_as(x)

    block = PyramidBlock(4, 6, 1, False, ViewOf()).train()
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    y = block(x)
    y.sum().backward()  # raises if the view were modified in place
    branch = block.branch(x).detach()
    assert torch.equal(y[:, :4], x + branch[:, :4]) and torch.equal(y[:, 4:], branch[:, 4:])
