"""Torch backend: per-objective gradients, FIRM step, scalarization limit, non-finite handling."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from backends.torch_backend import (  # noqa: E402
    MultiObjectiveStep,
    NonFiniteGradientError,
    flatten,
    jacobian,
    scalarized_backward,
)

pytestmark = pytest.mark.torch

#: central finite differences in float64 with step FD_STEP are accurate to ~FD_STEP^2 * |f'''|
FD_STEP = 1e-6
FD_RTOL = 1e-6
#: exact methods ("autograd" vs "batched") agree to float64 round-off
METHOD_RTOL = 1e-12
#: beta = 1e12 puts lambda within ~|Q| / beta of p
LARGE_BETA = 1e12
LARGE_BETA_ATOL = 1e-9


def tiny_module(seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).to(dtype)


def tiny_losses(model, x):
    out = model(x)
    return [(out[:, 0] ** 2).mean(), ((out[:, 1] - 1.0) ** 2).mean() + out[:, 0].mean()]


def finite_difference_jacobian(model, x):
    params = list(model.parameters())
    base = torch.nn.utils.parameters_to_vector(params).detach().clone()
    rows = np.zeros((2, base.numel()))
    with torch.no_grad():
        for k in range(base.numel()):
            vals = []
            for sign in (1.0, -1.0):
                v = base.clone()
                v[k] += sign * FD_STEP
                torch.nn.utils.vector_to_parameters(v, params)
                vals.append([float(loss) for loss in tiny_losses(model, x)])
            rows[:, k] = (np.array(vals[0]) - np.array(vals[1])) / (2 * FD_STEP)
        torch.nn.utils.vector_to_parameters(base, params)
    return rows


@pytest.mark.parametrize("method", ["autograd", "batched"])
def test_jacobian_matches_finite_differences(method):
    model = tiny_module()
    x = torch.randn(5, 3, dtype=torch.float64)
    jac = jacobian(tiny_losses(model, x), model.parameters(), method=method).numpy()
    fd = finite_difference_jacobian(model, x)
    np.testing.assert_allclose(jac, fd, rtol=FD_RTOL, atol=FD_RTOL * np.abs(fd).max())


def test_jacobian_methods_agree():
    model = tiny_module(1)
    x = torch.randn(7, 3, dtype=torch.float64)
    a = jacobian(tiny_losses(model, x), model.parameters(), method="autograd")
    b = jacobian(tiny_losses(model, x), model.parameters(), method="batched")
    torch.testing.assert_close(a, b, rtol=METHOD_RTOL, atol=METHOD_RTOL)


def test_finite_difference_checker_detects_wrong_gradient():
    model = tiny_module()
    x = torch.randn(5, 3, dtype=torch.float64)
    jac = jacobian(tiny_losses(model, x), model.parameters()).numpy()
    wrong = jac.copy()
    wrong[0, 3] += 1e-3
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(wrong, finite_difference_jacobian(model, x), rtol=FD_RTOL,
                                   atol=FD_RTOL * np.abs(jac).max())


def test_step_writes_min_norm_direction():
    model = tiny_module(2)
    x = torch.randn(6, 3, dtype=torch.float64)
    params = list(model.parameters())
    jac = jacobian(tiny_losses(model, x), params).numpy()
    info = MultiObjectiveStep(params, beta=0.0).backward(tiny_losses(model, x))
    g = flatten([p.grad for p in params], params).numpy()
    np.testing.assert_allclose(g, info.weights @ jac, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(info.gram, jac @ jac.T, rtol=1e-12)
    assert info.gram.dtype == np.float64 and not info.skipped
    # min-norm optimality: J^T lambda is no longer than either single gradient
    assert np.linalg.norm(g) <= np.linalg.norm(jac, axis=1).min() + 1e-12
    assert math.isclose(info.direction_norm, np.linalg.norm(g), rel_tol=1e-12)


@pytest.mark.parametrize("pref", [None, [0.3, 0.7]])
def test_large_beta_equals_scalarized_step(pref):
    model = tiny_module(3)
    x = torch.randn(6, 3, dtype=torch.float64)
    params = list(model.parameters())
    scalarized_backward(tiny_losses(model, x), params, preference=pref)
    ref = flatten([p.grad for p in params], params).clone()
    for beta in (LARGE_BETA, math.inf):
        MultiObjectiveStep(params, beta=beta, preference=pref).backward(tiny_losses(model, x))
        got = flatten([p.grad for p in params], params)
        torch.testing.assert_close(got, ref, rtol=0, atol=LARGE_BETA_ATOL)
    # and beta = 0 differs from the scalarized step here (the objectives conflict)
    MultiObjectiveStep(params, beta=0.0, preference=pref).backward(tiny_losses(model, x))
    assert (flatten([p.grad for p in params], params) - ref).abs().max() > 1e-6


def test_sgd_step_moves_weights_by_lr_times_direction_float32():
    model = tiny_module(4, dtype=torch.float32)
    params = list(model.parameters())
    before = flatten([p.detach() for p in params], params).clone()
    opt = torch.optim.SGD(params, lr=0.1)
    x = torch.randn(6, 3)
    info = MultiObjectiveStep(params, beta=0.5, optimizer=opt).step(tiny_losses(model, x))
    after = flatten([p.detach() for p in params], params)
    assert after.dtype == torch.float32
    assert math.isclose(float((before - after).norm()) / 0.1, info.direction_norm, rel_tol=1e-5)


def test_fast_mode_combines_exactly_with_its_lambda():
    model = tiny_module(5)
    x = torch.randn(6, 3, dtype=torch.float64)
    params = list(model.parameters())
    out = model(x)
    losses = [(out[:, 0] ** 2).mean(), ((out[:, 1] - 1.0) ** 2).mean()]
    info = MultiObjectiveStep(params, method="fast").backward(losses, surrogate=out)
    fast = flatten([p.grad for p in params], params).numpy()
    jac = jacobian(tiny_losses(model, x)[:1] + [((model(x)[:, 1] - 1.0) ** 2).mean()], params).numpy()
    np.testing.assert_allclose(fast, info.weights @ jac, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="surrogate"):
        MultiObjectiveStep(params, method="fast").backward(tiny_losses(model, x))


@pytest.mark.parametrize("where", ["loss", "grad"])
def test_nonfinite_raise_and_skip_never_touch_weights(where):
    model = tiny_module(6)
    params = list(model.parameters())
    x = torch.randn(4, 3, dtype=torch.float64)

    def bad_losses():
        losses = tiny_losses(model, x)
        if where == "loss":
            return [losses[0], losses[1] * float("nan")]
        # finite loss, infinite gradient: sqrt at 0
        return [losses[0], torch.sqrt((params[0] * 0).sum()) + losses[1]]

    before = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(params, lr=0.1)
    with pytest.raises(NonFiniteGradientError):
        MultiObjectiveStep(params, optimizer=opt).step(bad_losses())
    info = MultiObjectiveStep(params, optimizer=opt, on_nonfinite="skip").step(bad_losses())
    assert info.skipped and info.reason and np.isnan(info.weights).all()
    assert all(p.grad is None for p in params)
    for p, b in zip(params, before, strict=True):
        torch.testing.assert_close(p.detach(), b, rtol=0, atol=0)


def test_bad_arguments_are_named():
    model = tiny_module()
    params = list(model.parameters())
    with pytest.raises(ValueError, match="beta"):
        MultiObjectiveStep(params, beta=-1.0)
    with pytest.raises(ValueError, match="method"):
        MultiObjectiveStep(params, method="jacrev")
    with pytest.raises(ValueError, match="on_nonfinite"):
        MultiObjectiveStep(params, on_nonfinite="ignore")
    with pytest.raises(ValueError, match="preference"):
        MultiObjectiveStep(params, preference=[0.5, 0.6])
    with pytest.raises(ValueError, match="params"):
        MultiObjectiveStep([])
    with pytest.raises(ValueError, match="losses"):
        MultiObjectiveStep(params).backward([])
    with pytest.raises(ValueError, match="does not require grad"):
        MultiObjectiveStep(params).backward([torch.tensor(1.0)])


def test_fast_mode_lambda_is_exact_when_the_surrogate_is_the_parameter():
    torch.manual_seed(7)
    w = torch.randn(5, dtype=torch.float64, requires_grad=True)
    a, b = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)

    def losses():
        return [((w - a) ** 2).sum(), ((w - b) ** 2).sum() + w.sum()]

    exact = MultiObjectiveStep([w], beta=0.3).backward(losses())
    g_exact = w.grad.clone()
    fast = MultiObjectiveStep([w], beta=0.3, method="fast").backward(losses(), surrogate=w)
    np.testing.assert_allclose(fast.weights, exact.weights, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fast.gram, exact.gram, rtol=1e-12)
    torch.testing.assert_close(w.grad, g_exact, rtol=1e-12, atol=1e-14)


def test_relative_beta_is_beta_times_mean_squared_gradient_norm():
    """beta_relative=True solves lambda with beta * tr(Q) / M (the default of `firm rlhf`)."""
    model = tiny_module(8)
    x = torch.randn(6, 3, dtype=torch.float64)
    params = list(model.parameters())
    jac = jacobian(tiny_losses(model, x), params).numpy()
    scale = np.trace(jac @ jac.T) / 2
    rel = MultiObjectiveStep(params, beta=0.2, beta_relative=True).backward(tiny_losses(model, x))
    absolute = MultiObjectiveStep(params, beta=0.2 * scale).backward(tiny_losses(model, x))
    np.testing.assert_allclose(rel.weights, absolute.weights, rtol=1e-12, atol=1e-14)
    # the scaling matters here: the unscaled beta gives other weights
    unscaled = MultiObjectiveStep(params, beta=0.2).backward(tiny_losses(model, x))
    assert abs(scale - 1.0) > 0.1 and np.abs(unscaled.weights - rel.weights).max() > 1e-3


@pytest.mark.parametrize("beta_relative", [False, True])
def test_torch_step_is_the_core_firm_step(beta_relative):
    """The torch backend takes FIRM's step through firm_core.weighting: its lambda and direction equal
    firm_step on the same Jacobian (beta scaled by scaled_beta when relative)."""
    from firm_core.weighting import firm_step, scaled_beta

    model = tiny_module(5)
    x = torch.randn(7, 3, dtype=torch.float64)
    params = list(model.parameters())
    jac = jacobian(tiny_losses(model, x), params).numpy()
    p = np.array([0.3, 0.7])
    info = MultiObjectiveStep(params, beta=0.4, preference=p, beta_relative=beta_relative).backward(tiny_losses(model, x))
    beta = scaled_beta(0.4, jac @ jac.T, relative=beta_relative)
    y_next, lam, _ = firm_step(np.zeros(jac.shape[1]), jac, 1.0, beta=beta, preference=p)
    np.testing.assert_allclose(info.weights, lam, rtol=0, atol=METHOD_RTOL)
    np.testing.assert_allclose(flatten([q.grad for q in params], params).numpy(), -y_next, rtol=METHOD_RTOL, atol=1e-14)
    assert 0.01 < lam[0] < 0.99  # an interior lambda: beta and p both matter


def _linear_losses(w):
    """L_m = J_m . w for J = [[1, 0], [-0.5, 1e-6], [0, 1]]: the Jacobian is J itself, a Gram on which
    Frank-Wolfe stops at its iteration cap (while the exact methods converge)."""
    jac = torch.tensor([[1.0, 0.0], [-0.5, 1e-6], [0.0, 1.0]], dtype=torch.float64)
    return [(jac[m] * w).sum() for m in range(3)]


@pytest.mark.parametrize("method", ["autograd", "fast"])
def test_step_info_carries_the_solver_status(method):
    from firm_core.result import SolverStatus

    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    for solver, want in (("frank_wolfe", SolverStatus.MAX_ITER), ("auto", SolverStatus.CONVERGED)):
        losses = _linear_losses(w)
        surrogate = w if method == "fast" else None  # here the surrogate is the parameter itself: same Gram
        info = MultiObjectiveStep([w], method=method, solver=solver).backward(losses, surrogate=surrogate)
        assert info.solver_status is want, (solver, info.solver_message)
    # beta = inf solves nothing: CONVERGED
    info = MultiObjectiveStep([w], beta=math.inf).backward(_linear_losses(w))
    assert info.solver_status is SolverStatus.CONVERGED
