"""The regularizers' exact semantics (Gastaldi 2017; Yamada et al. 2018; Huang et al. 2016; Zoph et al. 2018: see
docs/engine.md), statistically and through autograd.

Coefficients are read back by feeding constant branches: with branch1 = 1 and branch2 = 0, shake_shake's
output is alpha and the gradient reaching branch1 is beta; with x = 1, shake_drop's output is the forward
coefficient g + a - g*a and x's gradient is the backward coefficient g + b - g*b.
"""

import pytest
import torch

from worker.engine.regularizers import drop_path, linear_decay, shake_drop, shake_shake, stochastic_depth

N = 20_000  # samples for the statistical checks: the standard error of a U(0,1) mean is 0.002


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def shake_shake_coefficients(n=N, shape=(1, 1, 1), **kwargs):
    """(alpha, beta) per element, read from the forward value and the gradient."""
    b1 = torch.ones(n, *shape, requires_grad=True)
    b2 = torch.zeros(n, *shape, requires_grad=True)
    y = shake_shake(b1, b2, **kwargs)
    y.sum().backward()
    assert torch.allclose(b1.grad + b2.grad, torch.ones_like(b1.grad))  # gradients split b and (1 - b)
    return y.detach(), b1.grad


def shake_drop_coefficients(n=N, shape=(1, 1, 1), **kwargs):
    x = torch.ones(n, *shape, requires_grad=True)
    y = shake_drop(x, **kwargs)
    y.sum().backward()
    return y.detach(), x.grad


# ------------------------------------------------------------------------------------------ Shake-Shake

def test_shake_shake_image_level_draws_alpha_uniform_per_image():
    alpha, _ = shake_shake_coefficients(level="image")
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert abs(alpha.mean() - 0.5) < 0.01 and abs(alpha.var() - 1 / 12) < 0.005
    assert alpha.unique().numel() > N * 0.99


def test_shake_shake_image_level_shares_alpha_within_an_image():
    alpha, beta = shake_shake_coefficients(n=8, shape=(3, 4, 4), level="image")
    assert torch.equal(alpha, alpha[:, :1, :1, :1].expand_as(alpha))
    assert torch.equal(beta, beta[:, :1, :1, :1].expand_as(beta))


def test_shake_shake_batch_level_uses_one_alpha_and_one_beta_for_the_batch():
    alpha, beta = shake_shake_coefficients(n=64, level="batch")
    assert alpha.unique().numel() == 1 and beta.unique().numel() == 1


def test_shake_shake_beta_is_uniform_and_independent_of_alpha():
    alpha, beta = shake_shake_coefficients(level="image")
    assert beta.min() >= 0 and beta.max() <= 1 and abs(beta.mean() - 0.5) < 0.01
    correlation = torch.corrcoef(torch.stack([alpha.flatten(), beta.flatten()]))[0, 1]
    assert abs(correlation) < 0.03
    assert not torch.allclose(alpha, beta)


def test_shake_shake_draws_fresh_values_every_forward_pass():
    first, _ = shake_shake_coefficients(n=16)
    second, _ = shake_shake_coefficients(n=16)
    assert not torch.equal(first, second)


def test_shake_shake_keep_reuses_alpha_backward():
    alpha, beta = shake_shake_coefficients(forward="shake", backward="keep")
    assert torch.equal(alpha, beta)


def test_shake_shake_even_forward_mixes_half_and_half():
    alpha, beta = shake_shake_coefficients(forward="even", backward="shake")
    assert torch.all(alpha == 0.5) and beta.std() > 0.2


def test_shake_shake_even_backward_splits_the_gradient_in_half():
    alpha, beta = shake_shake_coefficients(forward="shake", backward="even")
    assert torch.all(beta == 0.5) and alpha.std() > 0.2


def test_shake_shake_at_test_time_averages_the_branches():
    b1, b2 = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    assert torch.equal(shake_shake(b1, b2, training=False), 0.5 * (b1 + b2))


def test_shake_shake_output_is_the_forward_mix_of_real_branches():
    b1, b2 = torch.randn(5, 2, 3, 3), torch.randn(5, 2, 3, 3)
    torch.manual_seed(1)
    y = shake_shake(b1, b2, level="image")
    torch.manual_seed(1)
    alpha = torch.rand(5, 1, 1, 1)  # the first draw is alpha
    assert torch.allclose(y, alpha * b1 + (1 - alpha) * b2, atol=1e-6)


# ------------------------------------------------------------------------------------------- ShakeDrop

def test_shake_drop_gate_is_open_with_the_survival_probability():
    forward, backward = shake_drop_coefficients(survival_prob=0.7, level="image")
    open_gate = forward == 1  # a gated-off coefficient is alpha, which is 1 with probability 0
    assert abs(open_gate.float().mean() - 0.7) < 0.015
    assert torch.all(backward[open_gate] == 1)  # g = 1: a plain residual block both ways


def test_shake_drop_closed_gate_scales_by_alpha_in_its_range_forward_and_beta_backward():
    forward, backward = shake_drop_coefficients(survival_prob=0.5, level="image")
    closed = forward != 1
    alpha, beta = forward[closed], backward[closed]
    assert alpha.min() >= -1 and alpha.max() <= 1 and alpha.min() < -0.99 and abs(alpha.mean()) < 0.02
    assert beta.min() >= 0 and beta.max() <= 1 and abs(beta.mean() - 0.5) < 0.01
    assert abs(torch.corrcoef(torch.stack([alpha, beta]))[0, 1]) < 0.04


def test_shake_drop_honours_custom_ranges():
    forward, backward = shake_drop_coefficients(survival_prob=0.0, alpha_range=(0.2, 0.4), beta_range=(-1, -0.5))
    assert forward.min() >= 0.2 and forward.max() <= 0.4
    assert backward.min() >= -1 and backward.max() <= -0.5


def test_shake_drop_expected_forward_coefficient_is_the_survival_probability():
    forward, _ = shake_drop_coefficients(survival_prob=0.6, level="image")
    assert abs(forward.mean() - 0.6) < 0.015


@pytest.mark.parametrize("level, distinct_axes", [
    ("batch", ()), ("image", (0,)), ("channel", (0, 1)), ("pixel", (0, 1, 2, 3))])
def test_shake_drop_level_sets_the_granularity_of_gate_alpha_and_beta(level, distinct_axes):
    forward, backward = shake_drop_coefficients(n=64, shape=(8, 6, 6), survival_prob=0.5, level=level)
    for coefficient in (forward, backward):
        for axis in range(4):
            varies = coefficient.std(dim=axis).max() > 0
            assert bool(varies) == (axis in distinct_axes), (level, axis)


def test_shake_drop_gate_level_can_differ_from_alpha_level():
    forward, _ = shake_drop_coefficients(n=256, shape=(2, 2, 2), survival_prob=0.5, level="pixel",
                                         gate_level="batch")
    open_gate = forward == 1
    assert open_gate.all() or not open_gate.any()  # one gate for the batch, alpha per pixel


def test_shake_drop_at_test_time_scales_by_the_survival_probability():
    x = torch.randn(4, 3, 8, 8)
    assert torch.allclose(shake_drop(x, survival_prob=0.75, training=False), 0.75 * x)


def test_shake_drop_with_zero_ranges_is_stochastic_depth():
    forward, backward = shake_drop_coefficients(survival_prob=0.5, alpha_range=(0, 0), beta_range=(0, 0))
    assert set(forward.unique().tolist()) == {0.0, 1.0} and torch.equal(forward, backward)


# ------------------------------------------------------------------------------------ stochastic depth

def test_stochastic_depth_batch_level_keeps_or_drops_the_whole_batch():
    outcomes = [stochastic_depth(torch.ones(32, 2, 2, 2), survival_prob=0.5, level="batch")
                for _ in range(400)]
    assert all(o.unique().numel() == 1 for o in outcomes)
    kept = sum(float(o[0, 0, 0, 0]) for o in outcomes) / len(outcomes)
    assert abs(kept - 0.5) < 0.08


def test_stochastic_depth_image_level_gates_each_image():
    x = torch.ones(N, 1, 1, 1, requires_grad=True)
    y = stochastic_depth(x, survival_prob=0.8, level="image")
    y.sum().backward()
    assert set(y.unique().tolist()) <= {0.0, 1.0} and abs(y.mean() - 0.8) < 0.01
    assert torch.equal(x.grad, y.detach())


def test_stochastic_depth_at_test_time_scales_by_the_survival_probability():
    x = torch.randn(3, 4)
    assert torch.allclose(stochastic_depth(x, survival_prob=0.6, training=False), 0.6 * x)


def test_linear_decay_rule():
    assert linear_decay(1, 4, 0.5) == pytest.approx(0.875)
    assert linear_decay(4, 4, 0.5) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        linear_decay(0, 4, 0.5)


# ------------------------------------------------------------------------------------------- drop path

def test_drop_path_zeroes_or_rescales_each_sample():
    x = torch.ones(N, 3, 2, 2)
    y = drop_path(x, 0.6)
    per_sample = y.flatten(1)
    assert torch.equal(per_sample.min(1).values, per_sample.max(1).values)  # whole sample kept or dropped
    values = per_sample[:, 0].unique()
    assert values.numel() == 2 and values[0] == 0 and values[1].item() == pytest.approx(1 / 0.6)
    assert abs((per_sample[:, 0] > 0).float().mean() - 0.6) < 0.015


def test_drop_path_is_the_identity_at_test_time():
    x = torch.randn(4, 3)
    assert torch.equal(drop_path(x, 0.5, training=False), x)


# ------------------------------------------------------------------------------ precision and compile

def test_regularizers_keep_bf16_tensors_in_bf16():
    b1 = torch.randn(4, 3, 8, 8, dtype=torch.bfloat16, requires_grad=True)
    b2 = torch.randn(4, 3, 8, 8, dtype=torch.bfloat16, requires_grad=True)
    y = shake_drop(shake_shake(b1, b2), survival_prob=0.5, level="pixel")
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert b1.grad.dtype == torch.bfloat16 and torch.isfinite(b1.grad.float()).all()


def test_regularizers_compile_into_one_graph_with_the_same_semantics():
    # fullgraph=True fails on any graph break, such as a .item() host read or Python randomness.
    @torch.compile(fullgraph=True)
    def block(b1, b2, x):
        return shake_shake(b1, b2), shake_drop(x, survival_prob=0.5, level="image")

    b1 = torch.ones(N, 1, 1, 1, requires_grad=True)
    b2 = torch.zeros(N, 1, 1, 1, requires_grad=True)
    x = torch.ones(N, 1, 1, 1, requires_grad=True)
    alpha, drop = block(b1, b2, x)
    (alpha.sum() + drop.sum()).backward()
    assert abs(alpha.mean() - 0.5) < 0.01 and abs(b1.grad.mean() - 0.5) < 0.01
    assert abs(torch.corrcoef(torch.stack([alpha.detach().flatten(), b1.grad.flatten()]))[0, 1]) < 0.03
    assert abs((drop == 1).float().mean() - 0.5) < 0.015 and torch.all(x.grad[drop == 1] == 1)


# ------------------------------------------------------------------- the eager form against straight-through

def _both_forms(monkeypatch, function, *shapes, dtype=torch.float32, memory_format=torch.contiguous_format):
    """(output, input gradients) of `function` in the eager form and in the straight-through form that the
    compiled path keeps, with the same draws and the same upstream gradient."""
    from worker.engine import regularizers
    inputs = [torch.randn(*s).to(dtype).contiguous(memory_format=memory_format) for s in shapes]
    upstream = None
    results = []
    for straight_through in (False, True):
        monkeypatch.setattr(regularizers, "_compiling", lambda st=straight_through: st)
        leaves = [t.clone().requires_grad_() for t in inputs]
        torch.manual_seed(1)
        y = function(*leaves)
        if upstream is None:
            upstream = torch.randn(y.shape).to(dtype)
        y.backward(upstream)
        results.append((y.detach(), [t.grad for t in leaves]))
    return results


SHAKE_SHAKE_VARIANTS = [("shake", "shake"), ("shake", "even"), ("shake", "keep"), ("even", "shake")]


@pytest.mark.parametrize("level", ["batch", "image"])
@pytest.mark.parametrize(("forward", "backward"), SHAKE_SHAKE_VARIANTS)
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_shake_shake_eager_form_matches_the_straight_through_form(monkeypatch, level, forward, backward,
                                                                  memory_format):
    (y, grads), (y_st, grads_st) = _both_forms(
        monkeypatch, lambda b1, b2: shake_shake(b1, b2, forward=forward, backward=backward, level=level),
        (8, 4, 5, 5), (8, 4, 5, 5), memory_format=memory_format)
    assert torch.allclose(y, y_st, rtol=1e-6, atol=1e-6)
    assert all(torch.equal(g, g_st) for g, g_st in zip(grads, grads_st, strict=True))  # same ops: bitwise
    assert torch.equal(grads[0], grads[1]) == (backward == "even")  # the draws shook the gradient split


@pytest.mark.parametrize("level", ["batch", "image", "channel", "pixel"])
@pytest.mark.parametrize("gate_level", [None, "batch"])
def test_shake_drop_eager_form_matches_the_straight_through_form(monkeypatch, level, gate_level):
    (y, (grad,)), (y_st, (grad_st,)) = _both_forms(
        monkeypatch, lambda x: shake_drop(x, survival_prob=0.5, level=level, gate_level=gate_level), (8, 4, 5, 5))
    assert torch.allclose(y, y_st, rtol=1e-6, atol=1e-6)
    assert torch.equal(grad, grad_st)


def test_eager_forms_keep_bf16_and_match_the_straight_through_form(monkeypatch):
    (y, grads), (y_st, grads_st) = _both_forms(
        monkeypatch, lambda b1, b2: shake_drop(shake_shake(b1, b2), survival_prob=0.5, level="pixel"),
        (4, 3, 8, 8), (4, 3, 8, 8), dtype=torch.bfloat16)
    assert y.dtype == grads[0].dtype == torch.bfloat16
    assert torch.allclose(y.float(), y_st.float(), rtol=2e-2, atol=2e-2)  # bf16 keeps 8 bits
    assert all(torch.equal(g, g_st) for g, g_st in zip(grads, grads_st, strict=True))


def test_eager_forms_apply_outside_torch_compile_only(monkeypatch):
    from worker.engine import regularizers
    x = torch.randn(4, 3, 2, 2, requires_grad=True)
    assert type(shake_drop(x, survival_prob=0.5).grad_fn).__name__ == "_ScaleBackward"
    monkeypatch.setattr(regularizers, "_compiling", lambda: True)
    assert type(shake_drop(x, survival_prob=0.5).grad_fn).__name__ == "AddBackward0"
