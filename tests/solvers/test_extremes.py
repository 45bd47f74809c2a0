"""The min-norm solver at the extremes of the float64 range.

One regression test per reported failure, then a seeded fuzz test over scales 1e-200 ... 1e200 (J),
Gram matrices 1e-320 ... 1e300 and beta 0 or 1e-320 ... 1e308 that checks every CONVERGED answer with
an exact rational KKT check (Python fractions: it shares no code with firm_core's certificates) and
requires every exact method to converge whenever the problem's scale fits the output dtype.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest

import firm_core as fc
from firm_core.tolerances import EXACT_KKT_TOL, PSD_TOL
from firm_core.testing import asserts

EXACT = ("auto", "closed_form", "enumeration", "active_set")
J_SCALE_FREE = np.array([[1.0, 0.0], [0.5, 1.0]])  # Q = [[1, .5], [.5, 1.25]]: lambda = (0.6, 0.4)

#: Smallest positive normal float64: absolute slack for outputs that underflow (their exact value is
#: below it, so the nearest float, 0 or a subnormal, is off by less).
TINY = float(np.finfo(np.float64).tiny)
#: Relative accuracy (to max|Q|) of reported value / norm_sq against their exact value at the weights.
VALUE_RTOL = 1e-12


# ------------------------------------------------------------------------- exact (rational) checks


def exact_gram(jac) -> list[list[Fraction]]:
    rows = [[Fraction(float(v)) for v in row] for row in np.asarray(jac, dtype=np.float64)]
    return [[sum((a * b for a, b in zip(r1, r2)), Fraction(0)) for r2 in rows] for r1 in rows]


def exact_kkt(q: list[list[Fraction]], beta: float, p, weights) -> dict:
    """Exact relative Frank-Wolfe gap of the returned weights and their exact value / norm_sq.

    gap = (g^T l - min g) / s, g = Q l + beta (l - p), s = max|Q| + beta, all in rationals. For l on
    the simplex, the gap is 0 iff l is optimal; a relative KKT residual r bounds it by
    r (sqrt 2 + sqrt M) (the projection inequality with |g_m| <= s), which is what we require."""
    lam = [Fraction(float(v)) for v in weights]
    pf = [Fraction(float(v)) for v in p]
    b = Fraction(beta)
    ql = [sum((qij * lj for qij, lj in zip(row, lam)), Fraction(0)) for row in q]
    g = [v + b * (li - pi) for v, li, pi in zip(ql, lam, pf)]
    s = max(abs(v) for row in q for v in row) + b
    nsq = sum((li * v for li, v in zip(lam, ql)), Fraction(0))
    value = nsq / 2 + b * sum(((li - pi) ** 2 for li, pi in zip(lam, pf)), Fraction(0)) / 2
    gap = sum((li * gi for li, gi in zip(lam, g)), Fraction(0)) - min(g)
    return {"gap": float(gap / s) if s else 0.0, "norm_sq": nsq, "value": value, "qmax": s - b}


def check_converged_answer(res, q, beta, p, where: str, psd_defect: float = 0.0) -> None:
    """Every CONVERGED answer: on the simplex, exact FW gap within the certificate's bound, finite
    outputs equal to their exact values at the returned weights (to VALUE_RTOL max|Q|, or TINY).

    ``psd_defect`` = max(0, -lambda_min(Q)) / s for a Gram matrix given slightly indefinite (within
    its dtype's rounding): the solver certifies the nearest PSD matrix, which moves the gap by at
    most twice that and the value by at most that (relative to s)."""
    lam = np.asarray(res.weights, dtype=np.float64)
    m = len(lam)
    rounding = 0.0  # float32 results: weights rounded from the float64 solve move the gap by ~ M eps32
    if res.weights.dtype == np.float32:
        rounding = 4 * m * float(np.finfo(np.float32).eps)
    asserts.assert_on_simplex(lam, atol=asserts.SIMPLEX_ATOL + rounding)
    ex = exact_kkt(q, beta, p, lam)
    bound = EXACT_KKT_TOL * (math.sqrt(2) + math.sqrt(m)) + 2 * psd_defect + rounding
    assert ex["gap"] <= bound, (where, ex["gap"], res.message)
    top = float(np.finfo(np.asarray(res.value).dtype).max)
    for field in ("norm_sq", "value"):
        got = float(np.asarray(getattr(res, field)))
        assert math.isfinite(got) and abs(got) <= top, (where, field, got)
        err = abs(Fraction(got) - ex[field])
        slack = Fraction(VALUE_RTOL + psd_defect) * (ex["qmax"] + Fraction(beta)) + Fraction(TINY)
        if np.asarray(res.value).dtype == np.float32:
            slack += Fraction(asserts.FLOAT32_RTOL) * abs(ex[field]) + Fraction(float(np.finfo(np.float32).tiny))
        assert err <= slack, (where, field, got, float(ex[field]))


def test_the_exact_check_rejects_a_wrong_answer():
    q = exact_gram(J_SCALE_FREE)
    assert exact_kkt(q, 0.0, [0.5, 0.5], [0.6, 0.4])["gap"] <= 1e-16
    assert exact_kkt(q, 0.0, [0.5, 0.5], [0.5, 0.5])["gap"] > 1e-3  # the old 1e-170 answer
    res = fc.solve_min_norm(J_SCALE_FREE)
    bad = dataclasses.replace(res, weights=np.array([0.5, 0.5]))
    with pytest.raises(AssertionError):
        check_converged_answer(bad, q, 0.0, [0.5, 0.5], "wrong weights")
    bad = dataclasses.replace(res, norm_sq=np.array(2.0))
    with pytest.raises(AssertionError):
        check_converged_answer(bad, q, 0.0, [0.5, 0.5], "wrong norm_sq")


# ------------------------------------------------------------------------ one test per regression


@pytest.mark.parametrize("method", EXACT)
@pytest.mark.parametrize("scale", [1e-170, 1e-160, 1e150, 1e-300])
def test_tiny_and_huge_jacobians_get_the_scale_invariant_answer(method, scale):
    """J * 1e-170 has a Gram matrix below the float64 range; the answer is lambda(J) = (0.6, 0.4)."""
    res = fc.solve_min_norm(J_SCALE_FREE * scale, method=method)
    assert res.status is fc.SolverStatus.CONVERGED, res.message
    np.testing.assert_allclose(res.weights, [0.6, 0.4], rtol=0, atol=1e-15)
    check_converged_answer(res, exact_gram(J_SCALE_FREE * scale), 0.0, [0.5, 0.5], method)


@pytest.mark.parametrize("method", fc.METHODS)
@pytest.mark.parametrize("beta", [1e308, float(np.finfo(np.float64).max)])
def test_beta_near_the_float64_maximum(method, beta):
    """beta = 1e308 used to raise inside scipy; lambda = p to round-off (Q is negligible next to beta)."""
    if method == "cvxpy":
        pytest.importorskip("cvxpy")
    jac = np.array([[1.0, 0.0], [0.0, 2.0]]) if method == "closed_form" else np.eye(3) * np.array([[1.0], [2.0], [3.0]])
    p = np.linspace(1.0, 2.0, len(jac)) / np.linspace(1.0, 2.0, len(jac)).sum()
    res = fc.solve_min_norm(jac, beta=beta, preference=p, method=method)
    asserts.assert_on_simplex(res.weights)
    assert np.all(np.isfinite(res.value))
    if method in EXACT:
        assert res.status is fc.SolverStatus.CONVERGED, res.message
        np.testing.assert_allclose(res.weights, p, rtol=0, atol=1e-15)
        check_converged_answer(res, exact_gram(jac), beta, p, method)


@pytest.mark.parametrize("method", EXACT)
def test_huge_gram_with_huge_beta_matches_the_scaled_down_problem(method):
    """Gram ~1e306 with beta = 1.7e308 reported CONVERGED with wrong weights; the answer is that of
    (Q, beta) / 1e306, which is well inside the range."""
    q = np.array([[1.0, 0.5], [0.5, 1.25]])
    p = np.array([0.3, 0.7])
    small = fc.solve_min_norm(gram=q, beta=170.0, preference=p, method=method)
    res = fc.solve_min_norm(gram=q * 1e306, beta=1.7e308, preference=p, method=method)
    assert res.status is fc.SolverStatus.CONVERGED, res.message
    np.testing.assert_allclose(res.weights, small.weights, rtol=0, atol=1e-13)
    qf = [[Fraction(float(v)) for v in row] for row in q * 1e306]
    check_converged_answer(res, qf, 1.7e308, p, method)


@pytest.mark.parametrize("method", EXACT)
def test_gram_next_to_the_float64_maximum(method):
    """Symmetrizing 0.5 (Q + Q^T) overflowed for entries near 1.8e308 (found by the fuzz test)."""
    q = np.array([[1.7e308, 1.6e308], [1.6e308, 1.75e308]])
    res = fc.solve_min_norm(gram=q, method=method)
    assert res.status is fc.SolverStatus.CONVERGED, res.message
    small = fc.solve_min_norm(gram=q / 1e308, method=method)
    np.testing.assert_allclose(res.weights, small.weights, rtol=0, atol=1e-14)
    check_converged_answer(res, [[Fraction(float(v)) for v in row] for row in q], 0.0, [0.5, 0.5], method)


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        (dict(beta=10**400), "beta"),
        (dict(tol=10**400), "tol"),
        (dict(preference=[10**400, 0]), "preference"),
        (dict(jacobian=[[10**400, 0], [0, 1]]), "jacobian"),
        (dict(gram=None, jacobian=None), None),
    ],
)
def test_values_float64_cannot_represent_raise_value_error_naming_the_argument(kw, name):
    kw = {"jacobian": np.eye(2), **kw}
    if name is None:  # a gram of Python ints too large for float64
        kw = {"gram": [[10**400, 0], [0, 1]]}
        name = "gram"
    with pytest.raises(ValueError, match=f"`{name}`.*(cannot be represented|finite).*10000000"):
        fc.solve_min_norm(**kw)


def test_float32_answer_that_overflows_float32_is_numerical():
    """value ~ 1e40 overflows float32 while the weights are exact: NUMERICAL, naming the fields."""
    jac = np.array([[1e20, 0.0], [0.0, 2e20]], dtype=np.float32)
    res = fc.solve_min_norm(jac)
    assert res.status is fc.SolverStatus.NUMERICAL and res.weights.dtype == np.float32
    assert "float32 cannot represent" in res.message and "`value`" in res.message
    np.testing.assert_allclose(res.weights, [0.8, 0.2], rtol=1e-7)
    assert float(res.kkt_residual) <= EXACT_KKT_TOL
    ok = fc.solve_min_norm(jac.astype(np.float64))  # in float64 the same answer fits
    assert ok.status is fc.SolverStatus.CONVERGED and np.isfinite(ok.value)


@pytest.mark.parametrize(
    ("v", "expected"),
    [
        ([1e16], [1.0]),
        ([1e308], [1.0]),
        ([-1e308], [1.0]),
        ([1e16, 1e16 - 2.0], [1.0, 0.0]),
        ([1e16, 1e16], [0.5, 0.5]),
        ([1e308, -1e308, 0.0], [1.0, 0.0, 0.0]),
        ([1e308, 1e308], [0.5, 0.5]),
        ([1e16 + 2.0, 1e16, 1e16 - 2.0], [1.0, 0.0, 0.0]),
        ([1e-300, 0.0], [0.5, 0.5]),
    ],
)
def test_project_simplex_at_extreme_scales(v, expected):
    """project_simplex([1e16]) returned [0.] (off the simplex): the threshold lost the 1."""
    x = fc.project_simplex(np.array(v))
    asserts.assert_on_simplex(x, atol=1e-15)
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-15)


def float32_gram_within_rounding_of_psd(seed: int) -> np.ndarray:
    """A rank-2 PSD Gram matrix (M = 4) rounded to float32: exact eigenvalues 0, 0, +, + become
    about -1e-8 * max|Q|, below the float64 tolerance but within float32 rounding."""
    rng = np.random.default_rng(seed)
    jac = rng.standard_normal((4, 2))
    return (jac @ jac.T).astype(np.float32)


def test_float32_gram_within_float32_rounding_of_psd_is_accepted():
    found = 0
    for seed in range(200):
        q = float32_gram_within_rounding_of_psd(seed)
        q64 = q.astype(np.float64)
        rel = np.linalg.eigvalsh(q64)[0] / np.abs(q64).max()
        if rel >= -2 * PSD_TOL:  # clearly beyond the float64 rule (not on its rounding edge)
            continue
        found += 1  # the float64 rule would reject it: the float32 one accepts and solves it
        with pytest.raises(ValueError, match="positive semidefinite"):
            fc.solve_min_norm(gram=q64)
        res = fc.solve_min_norm(gram=q)
        assert res.status is fc.SolverStatus.CONVERGED and res.weights.dtype == np.float32, res.message
    assert found >= 5  # the instance family really exercises the case


def test_float32_gram_clearly_not_psd_is_still_rejected():
    q = np.array([[1.0, 0.0], [0.0, -1e-3]], dtype=np.float32)
    with pytest.raises(ValueError, match="`gram`.*positive semidefinite.*float32"):
        fc.solve_min_norm(gram=q)
    q = np.array([[1.0, 1e-3], [0.0, 1.0]], dtype=np.float32)
    with pytest.raises(ValueError, match="`gram`.*not symmetric"):
        fc.solve_min_norm(gram=q)


@pytest.mark.parametrize("method", ["auto", "active_set", "enumeration", "frank_wolfe", "projected_gradient"])
def test_single_objective_with_a_huge_jacobian(method):
    """M = 1: lambda = [1] is exact; it used to be reported NUMERICAL for |J| >= 1e8."""
    jac = np.array([[1e9, -2e9]])
    res = fc.solve_min_norm(jac, method=method)
    assert res.status is fc.SolverStatus.CONVERGED, res.message
    assert res.weights.tolist() == [1.0] and float(res.norm_sq) == 5e18 and float(res.kkt_residual) == 0.0
    huge = fc.solve_min_norm(np.array([[1e200, 0.0]]), method=method)  # ||g||^2 = 1e400 does not fit
    assert huge.status is fc.SolverStatus.NUMERICAL and "`norm_sq`" in huge.message
    assert huge.weights.tolist() == [1.0] and float(huge.kkt_residual) == 0.0
    assert huge.direction.tolist() == [1e200, 0.0]


class GraphTensor:
    """Stands in for a framework tensor that tracks gradients: converting it to an array raises
    until it is detached (the behaviour of tensors with requires_grad)."""

    def __init__(self, data):
        self.data = np.asarray(data)
        self.detached = False

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")

    def detach(self):
        out = GraphTensor(self.data)
        out.detached = True
        out.__class__ = DetachedTensor
        return out


class DetachedTensor(GraphTensor):
    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)


def test_tensors_with_a_gradient_graph_are_detached_first():
    with pytest.raises(RuntimeError):
        np.asarray(GraphTensor(J_SCALE_FREE))  # what the solver used to do
    for kw in (dict(jacobian=GraphTensor(J_SCALE_FREE)), dict(gram=GraphTensor(J_SCALE_FREE @ J_SCALE_FREE.T))):
        res = fc.solve_min_norm(**kw, preference=GraphTensor([0.5, 0.5]))
        np.testing.assert_allclose(res.weights, [0.6, 0.4], atol=1e-15)
    np.testing.assert_allclose(fc.project_simplex(GraphTensor([2.0, 0.0])), [1.0, 0.0])


@pytest.mark.torch
def test_torch_tensor_that_requires_grad():
    torch = pytest.importorskip("torch")
    jac = torch.tensor(J_SCALE_FREE, dtype=torch.float32, requires_grad=True)
    res = fc.solve_min_norm(jac, beta=0.0)
    assert res.status is fc.SolverStatus.CONVERGED and res.weights.dtype == np.float32
    np.testing.assert_allclose(res.weights, [0.6, 0.4], atol=1e-7)


# ----------------------------------------------------------------------------------------- fuzzing

#: Instances of the seeded fuzz test (each solved by every applicable exact method).
FUZZ_INSTANCES = 400


def to_float(x: Fraction) -> float:
    """The nearest float64 (inf beyond the range)."""
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def fuzz_instance(rng):
    """(kind, input array, beta, preference, exact Gram as rationals, output dtype)."""
    m, d = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    jac = rng.standard_normal((m, d))
    if rng.random() < 0.3:
        jac += 3 * rng.standard_normal((1, d))  # shared offset: interior and boundary optima
    if m > 1 and rng.random() < 0.2:
        jac[1] = jac[0]  # duplicate rows
    if rng.random() < 0.2:
        jac *= 10.0 ** rng.uniform(-8, 8, size=(m, 1))  # mixed row scales
    dtype = np.float32 if rng.random() < 0.15 else np.float64
    span = 15 if dtype == np.float32 else 200
    jac = jac * 10.0 ** rng.uniform(-span, span)
    jac = jac.astype(dtype)
    beta = 0.0 if rng.random() < 0.3 else float(10.0 ** rng.uniform(-320, 308))
    p = rng.dirichlet(np.ones(m)) if rng.random() < 0.5 else np.full(m, 1.0 / m)
    q = exact_gram(jac)
    use_gram = rng.random() < 0.4
    if use_gram:
        qf = np.array([[to_float(v) for v in row] for row in q])
        if not np.isfinite(qf).all() or np.abs(qf).max() < 1e-290:
            # Q itself does not fit float64 (or only as subnormals, rounded far beyond round-off of
            # PSD): only the Jacobian can be given
            use_gram = False
        else:
            qf = qf.astype(dtype) if dtype == np.float32 and np.abs(qf).max() < 1e37 else qf
            q = [[Fraction(float(v)) for v in row] for row in qf]
            return "gram", qf, beta, p, q, qf.dtype
    return "jacobian", jac, beta, p, q, jac.dtype


def psd_defect(gram: np.ndarray, beta: float) -> float:
    """max(0, -lambda_min(Q)) / (max|Q| + beta), from numpy's eigenvalues of the given matrix."""
    q = np.asarray(gram, dtype=np.float64)
    top = np.abs(q).max()
    lo = float(np.linalg.eigvalsh(q / top)[0]) if len(q) > 1 else 1.0
    return max(0.0, -lo) * top / (top + beta)


def must_converge(q, beta: float, dtype) -> bool:
    """The scale s = max|Q| + beta fits the output dtype with room to spare: then value <= s and
    norm_sq <= max|Q| fit, and every exact method must return a certified CONVERGED answer."""
    s = max(abs(v) for row in q for v in row) + Fraction(beta)
    return s <= Fraction(float(np.finfo(dtype).max)) / 4


def test_fuzz_extreme_scales_every_converged_answer_passes_an_exact_kkt_check():
    rng = np.random.default_rng(20261129)
    converged = numerical = 0
    for k in range(FUZZ_INSTANCES):
        kind, arr, beta, p, q, dtype = fuzz_instance(rng)
        m = arr.shape[0]
        for method in EXACT:
            if (method == "closed_form" and m != 2) or (method == "enumeration" and m > 8):
                continue
            where = f"instance {k} ({kind}, M={m}, {np.dtype(dtype)}, beta={beta:.3g}, |A|={np.abs(arr).max():.3g}) {method}"
            res = fc.solve_min_norm(**{kind: arr}, beta=beta, preference=p, method=method)
            asserts.assert_on_simplex(np.asarray(res.weights, dtype=np.float64), atol=1e-6 if dtype == np.float32 else 1e-12)
            assert res.status is not fc.SolverStatus.MAX_ITER, where
            if res.status is fc.SolverStatus.CONVERGED:
                converged += 1
                check_converged_answer(res, q, beta, p, where, psd_defect(arr, beta) if kind == "gram" else 0.0)
            else:
                numerical += 1
                assert "cannot represent" in res.message, (where, res.message)
                assert not must_converge(q, beta, dtype), (where, res.message)
    assert converged > 800 and numerical > 20  # both outcomes are really exercised
