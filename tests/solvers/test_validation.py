"""Bad input raises ValueError / TypeError whose message names the argument and the value found."""

from __future__ import annotations

import numpy as np
import pytest

import firm_core as fc

J = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
Q = J @ J.T


def raises(exc, *fragments):
    """pytest.raises(exc) whose message contains every fragment (argument name and value found)."""
    import re

    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("arg", ["jacobian", "gram"])
def test_non_finite_entries(arg, bad):
    x = (J if arg == "jacobian" else Q).copy()
    x[1, 0] = bad
    if arg == "gram":
        x[0, 1] = bad
    kw = {"jacobian": x} if arg == "jacobian" else {"gram": x}
    with raises(ValueError, f"`{arg}`", "non-finite", str(bad)):
        fc.solve_min_norm(**kw)


@pytest.mark.parametrize(
    ("kw", "fragments"),
    [
        (dict(jacobian=np.ones(3)), ("`jacobian`", "(3,)")),
        (dict(jacobian=np.ones((0, 3))), ("`jacobian`", "(0, 3)")),
        (dict(jacobian=np.ones((3, 0))), ("`jacobian`", "(3, 0)")),
        (dict(gram=np.ones((2, 3))), ("`gram`", "(2, 3)")),
        (dict(gram=np.ones(4)), ("`gram`", "(4,)")),
        (dict(gram=np.ones((0, 0))), ("`gram`", "(0, 0)")),
    ],
)
def test_wrong_shapes(kw, fragments):
    with raises(ValueError, *fragments):
        fc.solve_min_norm(**kw)


@pytest.mark.parametrize(
    ("kw", "fragments"),
    [
        (dict(jacobian=J, preference=np.full(4, 0.25)), ("`preference`", "(4,)", "M = 3")),
        (dict(jacobian=J, preference=np.full((1, 3), 1 / 3)), ("`preference`", "(1, 3)")),
        (dict(gram=Q, preference=np.array([0.5, 0.5])), ("`preference`", "(2,)", "M = 3")),
    ],
)
def test_mismatched_preference_shape(kw, fragments):
    with raises(ValueError, *fragments):
        fc.solve_min_norm(**kw)


def test_both_or_neither_of_jacobian_and_gram():
    with raises(ValueError, "`jacobian`", "`gram`", "both"):
        fc.solve_min_norm(J, gram=Q)
    with raises(ValueError, "`jacobian`", "`gram`", "neither"):
        fc.solve_min_norm()


def test_gram_not_symmetric_beyond_round_off():
    q = Q.copy()
    q[0, 1] += 1e-3
    with raises(ValueError, "`gram`", "not symmetric"):
        fc.solve_min_norm(gram=q)
    q = Q.copy()
    q[0, 1] += 1e-14  # round-off: accepted (and symmetrized)
    assert fc.solve_min_norm(gram=q).success


def test_gram_not_psd_beyond_round_off():
    q = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3, -1
    with raises(ValueError, "`gram`", "positive semidefinite", "-1"):
        fc.solve_min_norm(gram=q)
    with raises(ValueError, "`gram`", "positive semidefinite", "-2"):
        fc.solve_min_norm(gram=np.array([[-2.0]]))
    # a rank-deficient Gram with a -1e-15 eigenvalue from round-off is accepted
    v = np.array([[1.0, 1.0, 1.0]])
    q = v.T @ v - 1e-15 * np.eye(3)
    assert fc.solve_min_norm(gram=q).success


def test_gram_batched_one_bad_problem_is_named():
    batch = np.stack([Q, np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])])
    with raises(ValueError, "`gram`", "positive semidefinite"):
        fc.solve_min_norm(gram=batch)


@pytest.mark.parametrize("beta", [-1.0, -1e-300, np.nan, np.inf, -np.inf])
def test_beta_negative_or_non_finite(beta):
    with raises(ValueError, "`beta`", repr(float(beta))):
        fc.solve_min_norm(J, beta=beta)


@pytest.mark.parametrize("beta", ["0.1", None, [0.1], True, 1j, np.array([0.1, 0.2])])
def test_beta_non_numeric(beta):
    with raises(TypeError, "`beta`", type(beta).__name__):
        fc.solve_min_norm(J, beta=beta)


def test_beta_numpy_scalars_accepted():
    for beta in (np.float32(0.5), np.float64(0.5), np.int64(1), 2):
        assert fc.solve_min_norm(J, beta=beta).success


@pytest.mark.parametrize(
    "pref",
    [
        [0.5, 0.6, -0.1],  # negative entry
        [0.3, 0.3, 0.3],  # sums to 0.9
        [1.0, 1.0, 1.0],
        [0.5, 0.5, 1e-6],  # off by 1e-6 > PREFERENCE_SUM_TOL
    ],
)
def test_preference_not_a_probability_vector(pref):
    with raises(ValueError, "`preference`", "probability vector", str(pref[0])):
        fc.solve_min_norm(J, preference=np.array(pref))


@pytest.mark.parametrize("pref", [[np.nan, 0.5, 0.5], [np.inf, 0.0, 0.0]])
def test_preference_non_finite(pref):
    with raises(ValueError, "`preference`", "non-finite"):
        fc.solve_min_norm(J, preference=np.array(pref))


@pytest.mark.parametrize(
    ("arg", "value", "exc"),
    [
        ("jacobian", np.array([[1 + 1j, 0], [0, 1]]), TypeError),
        ("jacobian", np.array([[True, False], [False, True]]), TypeError),
        ("jacobian", np.array([["a", "b"], ["c", "d"]]), TypeError),
        ("jacobian", np.array([[1.0, 0.0], [0.0, None]], dtype=object), TypeError),
        ("gram", np.array([[1 + 0j, 0], [0, 1]]), TypeError),
        ("preference", np.array(["0.5", "0.5"]), TypeError),
    ],
)
def test_non_real_dtypes(arg, value, exc):
    kw = {"jacobian": np.eye(2)} if arg == "preference" else {}
    kw[arg] = value
    with raises(exc, f"`{arg}`", str(value.dtype)):
        fc.solve_min_norm(**kw)


def test_unknown_method():
    with raises(ValueError, "`method`", "'mgda'"):
        fc.solve_min_norm(J, method="mgda")


def test_method_shape_limits():
    with raises(ValueError, "closed_form", "M = 3"):
        fc.solve_min_norm(J, method="closed_form")
    with raises(ValueError, "enumeration", "M = 9"):
        fc.solve_min_norm(np.eye(9), method="enumeration")


@pytest.mark.parametrize(
    ("kw", "fragments"),
    [
        (dict(tol=0.0), ("`tol`", "0.0")),
        (dict(tol=-1e-3), ("`tol`", "-0.001")),
        (dict(tol=np.nan), ("`tol`", "nan")),
        (dict(tol=np.inf), ("`tol`", "inf")),
        (dict(max_iter=0), ("`max_iter`", "0")),
        (dict(max_iter=-5), ("`max_iter`", "-5")),
    ],
)
def test_bad_tol_and_max_iter(kw, fragments):
    with raises(ValueError, *fragments):
        fc.solve_min_norm(J, **kw)


@pytest.mark.parametrize(
    ("kw", "fragments"),
    [
        (dict(tol="1e-6"), ("`tol`", "'1e-6'", "str")),
        (dict(max_iter=2.5), ("`max_iter`", "2.5", "float")),
        (dict(max_iter=True), ("`max_iter`", "True", "bool")),
    ],
)
def test_wrongly_typed_tol_and_max_iter(kw, fragments):
    with raises(TypeError, *fragments):
        fc.solve_min_norm(J, **kw)


def test_int_inputs_are_accepted_and_returned_as_float64():
    res = fc.solve_min_norm(np.array([[1, 0], [0, 1]]), preference=[0.5, 0.5])
    assert res.weights.dtype == np.float64 and np.allclose(res.weights, 0.5)


def test_inputs_are_not_modified():
    jac, pref = J.copy(), np.array([0.2, 0.3, 0.5])
    fc.solve_min_norm(jac, beta=0.1, preference=pref, method="frank_wolfe")
    assert np.array_equal(jac, J) and np.array_equal(pref, [0.2, 0.3, 0.5])


@pytest.mark.parametrize(
    ("v", "exc", "fragment"),
    [
        (np.array(1.0), ValueError, "()"),
        (np.zeros((3, 0)), ValueError, "(3, 0)"),
        (np.array([1.0, np.nan]), ValueError, "non-finite entries, e.g. nan at index (1,)"),
        (np.array([1 + 1j, 0]), TypeError, "complex"),
        (np.array(["a", "b"]), TypeError, "<U1"),
    ],
)
def test_project_simplex_bad_input(v, exc, fragment):
    with raises(exc, "`v`", fragment):
        fc.project_simplex(v)


# ------------------------------------------------------------------ the library's validation module

from firm_core import validation as v  # noqa: E402
from firm_core.tolerances import PREFERENCE_SUM_TOL  # noqa: E402


def test_the_old_module_name_is_an_alias():
    from firm_core import _validate

    assert _validate.check_preference is v.check_preference and _validate.as_real_array is v.as_real_array


def test_short_repr_truncates_long_values_to_about_the_limit():
    assert v.short_repr(0.5) == "0.5" and v.short_repr("abc") == "'abc'"
    long = v.short_repr(list(range(1000)))
    assert len(long) <= v.REPR_LIMIT
    arr = v.short_repr(np.arange(10_000.0))
    assert len(arr) <= v.REPR_LIMIT and arr.startswith("[0.") and "..." in arr
    assert len(v.short_repr(10**400)) <= v.REPR_LIMIT
    with raises(ValueError, "`beta`", "..."):
        fc.solve_min_norm(J, beta=-(10**400))  # the 401-digit value is shortened in the message


@pytest.mark.parametrize(
    ("check", "good", "bad_type", "bad_value"),
    [
        (lambda x: v.check_int(x, "k", "f", minimum=1), (3, np.int64(3)), (2.5, "3", True, None), (0, -4)),
        (lambda x: v.check_positive_float(x, "lr", "f"), (0.1, 2, np.float32(0.5)), ("0.1", None, [1.0], False),
         (0.0, -1.0, np.nan, np.inf, 10**400)),
        (lambda x: v.check_nonneg_float(x, "beta", "f"), (0.0, 3, np.float64(1e300)), ("0", 1j, True),
         (-1e-300, np.nan, -np.inf, 10**400)),
        (lambda x: v.check_real(x, "a", "f", minimum=None, allow_inf=True), (-np.inf, 0.0, 5), (None, "x"), (np.nan,)),
        (lambda x: v.check_choice(x, "mode", "f", ("a", "b")), ("a",), (1, None, ["a"]), ("c", "")),
        (lambda x: v.check_seed(x, "f"), (None, 0, np.random.default_rng(0)), (1.5, "1"), (-1,)),
    ],
)
def test_scalar_checks_follow_one_policy(check, good, bad_type, bad_value):
    """Right type and value: returned clean; wrong type: TypeError; wrong value: ValueError; the
    message names the argument and (shortened) the value found."""
    for x in good:
        check(x)
    for x in bad_type:
        with pytest.raises(TypeError, match=r"f: `\w+` .*got .*of type"):
            check(x)
    for x in bad_value:
        with pytest.raises(ValueError, match=r"f: `\w+` .*got"):
            check(x)


def test_check_array_shape_finite_nonneg():
    assert v.check_array([1, 2], "x", "f", shape=(2,)).dtype == np.float64
    assert v.check_array(np.ones((4, 3)), "x", "f", shape=(None, 3)).shape == (4, 3)
    with raises(ValueError, "`x`", "(n, 2)", "(4, 3)"):
        v.check_array(np.ones((4, 3)), "x", "f", shape=(None, 2))
    with raises(ValueError, "`x`", "non-finite", "nan"):
        v.check_array([1.0, np.nan], "x", "f")
    with raises(ValueError, "`x`", ">= 0", "-1.0"):
        v.check_array([1.0, -1.0], "x", "f", nonneg=True)
    with raises(TypeError, "`x`", "<U1"):
        v.check_array(["a"], "x", "f")
    with raises(ValueError, "`x`", "float64"):
        v.check_array(np.array([1e4000], dtype=np.longdouble) if np.finfo(np.longdouble).max > 1e4000 else [10**400],
                      "x", "f")


def test_check_preference_length_simplex_and_named_tolerance():
    p = v.check_preference([0.25, 0.75], 2, "f")
    assert p.tolist() == [0.25, 0.75] and v.check_preference(None, 4, "f").tolist() == [0.25] * 4
    off = 1.0 + 0.5 * PREFERENCE_SUM_TOL  # within the tolerance: accepted as given
    assert v.check_preference([0.5, off - 0.5], 2, "f").sum() == pytest.approx(off, abs=0)
    with raises(ValueError, "`preference`", "M = 3", "(2,)"):
        v.check_preference([0.5, 0.5], 3, "f")
    with raises(ValueError, "`preference`", "probability vector", f"{PREFERENCE_SUM_TOL:g}"):
        v.check_preference([0.5, 0.5 + 2 * PREFERENCE_SUM_TOL], 2, "f")
    with raises(ValueError, "`preference`", "-0.1"):
        v.check_preference([1.1, -0.1], 2, "f")
    w = v.check_probability_vectors([[0.2, 0.8], [1.0, 0.0]], 2, "weights", "f")
    assert w.shape == (2, 2)


def test_solver_arguments_of_the_wrong_type_are_type_errors():
    with raises(TypeError, "`method`", "3", "int"):
        fc.solve_min_norm(J, method=3)
    with raises(TypeError, "`tol`", "None"):
        fc.solve_min_norm(J, tol=None)
    with raises(TypeError, "`jacobian`", "object"):
        fc.solve_min_norm(np.array([[1.0, "a"], [0.0, None]], dtype=object))
