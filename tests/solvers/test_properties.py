"""One property suite, run over every min-norm method (tests.solvers.methods.SPECS) and both dtypes.

Besides the random search, every property that draws from the sampler families runs one explicit
example per family, alternately at d = 3 and at d = 1, with beta_rel, scale and preference kind cycling
(``EXAMPLES``), so no family depends on the example budget; test_every_family_reaches_every_property
checks that the examples cover every family and that run_property runs them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import firm_core as fc
from firm_core.testing import asserts, samplers, strategies
from firm_core.testing.reference import solve_reference
from firm_core.tolerances import EXACT_KKT_TOL
from tests.solvers.methods import SPECS, SPEC_BY_NAME, check_answer, solve_checked

#: Lemma 1 is tight: on Q = 0 with an interior lambda(Q') the ratio is 1 up to round-off.
LEMMA1_TIGHT_RATIO = 1 - 1e-9
#: beta / max|Q| used for the beta -> inf checks.
LARGE_BETA_REL = (1e2, 1e4, 1e8)
#: Share of a method's example budget spent on the batched test (each example solves 5 times).
BATCH_SHARE = 0.4
#: Share spent on the gram-vs-jacobian test (each example solves twice).
GRAM_SHARE = 0.5

by_method = pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)


#: Scale factors c of the (Q, beta) -> (cQ, c beta) property.
SCALE_FACTORS = (1e-9, 1e-3, 7.0, 1e5, 1e10)


def run_property(spec, strategy, check, *, examples=(), share: float = 1.0) -> None:
    """Run ``check`` on every explicit example, then under hypothesis with ``share`` of the method's budget."""
    budget = max(1, int(share * spec.example_share * settings().max_examples))
    test = strategies.with_examples(examples)(given(strategy)(check))
    settings(max_examples=budget)(test)()


def instances_for(spec, **kw):
    kw.setdefault("m", st.integers(spec.m_min, spec.m_max))
    return strategies.instances(**kw)


def family_examples(spec, m_max: int = 6, **kw) -> list:
    """One instance per sampler family, alternately at (M_min, d = 3) and at (min(M_max, m_max), d = 1)."""
    small = samplers.one_of_each(spec.m_min, 3, seed=3, **kw)
    large = samplers.one_of_each(min(spec.m_max, m_max), 1, seed=1, **kw)
    return [a if k % 2 == 0 else b for k, (a, b) in enumerate(zip(small, large))]


def _batch_examples(spec):
    fams = list(samplers.FAMILIES)
    return [(k, spec.m_min if k % 2 else min(spec.m_max, 6), 1 + 2 * (k % 3), samplers.BETA_REL[k % 5], f)
            for k, f in enumerate(fams)]


#: Explicit examples of each property that draws from the sampler families: property -> spec -> examples.
EXAMPLES = {
    "kkt_status": family_examples,
    "exact_reference": lambda spec: family_examples(spec),
    "permutation": lambda spec: [(i, list(reversed(range(i.m)))) for i in family_examples(spec)],
    "scaling": lambda spec: [(i, SCALE_FACTORS[k % 5]) for k, i in enumerate(family_examples(spec))],
    "non_conflicting": lambda spec: family_examples(spec, beta_rel=(0.0,)),
    "lemma0": family_examples,
    "large_beta": lambda spec: [(i, LARGE_BETA_REL[k % 3]) for k, i in enumerate(family_examples(spec, scales=(1.0,)))],
    "batched": _batch_examples,
    "gram_input": lambda spec: [(i, i.gram) for i in family_examples(spec)],
}


def families_and_dims(examples) -> list[tuple[str, int]]:
    """(family, d) of each example: an Instance, a tuple starting with one, or a batched (seed, m, d, beta_rel, family)."""
    out = []
    for e in examples:
        inst = e if isinstance(e, samplers.Instance) else e[0]
        if isinstance(inst, samplers.Instance):
            out.append((inst.family, inst.jacobian.shape[1]))
        else:
            out.append((e[4], 1 if e[4] == "one_column" else e[2]))
    return out


@by_method
def test_every_family_reaches_every_property(spec):
    """Each property's explicit examples hold every family and d = 1, and run_property runs them all."""
    for prop, make in EXAMPLES.items():
        examples = make(spec)
        seen = families_and_dims(examples)
        assert {f for f, _ in seen} == set(samplers.FAMILIES), f"{prop} misses {set(samplers.FAMILIES) - {f for f, _ in seen}}"
        assert any(d == 1 for _, d in seen), f"{prop} has no example with d = 1"
        ran = []
        run_property(spec, st.just(None), lambda e: ran.append(e) if e is not None else None, examples=examples)
        assert len(ran) == len(examples), f"{prop}: {len(ran)} of {len(examples)} examples ran"


@by_method
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kkt_status_and_dtype(spec, dtype):
    """Simplex, KKT, honest status; float32 input is solved in float64 and rounded to float32."""

    def check(inst):
        jac = inst.jacobian.astype(dtype)
        jac64 = jac.astype(np.float64)
        q = jac64 @ jac64.T
        res = spec.solve(jacobian=jac, beta=inst.beta, preference=inst.preference)
        for field in ("weights", "direction", "value", "norm_sq"):
            assert np.asarray(getattr(res, field)).dtype == dtype, field
        if dtype == np.float32:
            ref = spec.solve(jacobian=jac64, beta=inst.beta, preference=inst.preference)
            assert np.array_equal(res.weights, ref.weights.astype(np.float32))
            assert np.array_equal(res.direction, ref.direction.astype(np.float32))
            assert res.status is ref.status
            res = ref
        check_answer(spec, res, q, inst.beta, inst.p, jacobian=jac64)

    run_property(spec, instances_for(spec), check, examples=EXAMPLES["kkt_status"](spec))


@by_method
def test_agrees_with_exact_reference(spec):
    """Every method agrees with the independent exact reference (support enumeration, no firm_core solver)."""

    def check(inst):
        q = inst.gram
        lam, gap = solve_checked(spec, q, inst.beta, inst.p)
        ref = solve_reference(q, inst.beta, inst.p)
        gap_ref = asserts.certificate(q, ref.weights, inst.beta, inst.p).gap
        assert gap_ref <= EXACT_KKT_TOL, f"the reference is not optimal: gap {gap_ref:.3e}"
        asserts.assert_same_solution(q, lam, ref.weights, inst.beta, inst.p, gap, gap_ref)

    strategy = instances_for(spec, m=st.integers(spec.m_min, min(spec.m_max, 8)))
    run_property(spec, strategy, check, examples=EXAMPLES["exact_reference"](spec))


@by_method
def test_permutation_equivariant(spec):
    def check(inst_perm):
        inst, perm = inst_perm

        def solve(q, p):
            return solve_checked(spec, q, inst.beta, p)

        asserts.assert_permutation_equivariant(solve, inst.gram, inst.beta, inst.p, perm)

    strategy = instances_for(spec).flatmap(lambda i: st.tuples(st.just(i), st.permutations(range(i.m))))
    run_property(spec, strategy, check, examples=EXAMPLES["permutation"](spec))


@by_method
def test_scaling_leaves_lambda_unchanged(spec):
    """(Q, beta) -> (cQ, c beta) leaves lambda unchanged (to the certificates; exactly unique if beta > 0)."""

    def check(inst_c):
        inst, c = inst_c
        # the relative gap is scale-free, so the scaled answer's claim carries over to the unscaled problem
        asserts.assert_scale_invariant(lambda q, beta, p: solve_checked(spec, q, beta, p), inst.gram, inst.beta, inst.p, c)

    strategy = st.tuples(instances_for(spec), st.sampled_from(SCALE_FACTORS))
    run_property(spec, strategy, check, examples=EXAMPLES["scaling"](spec))


@by_method
def test_non_conflicting_at_beta_zero(spec):
    """beta = 0: g_m . d >= ||d||^2 - tol for every m, with d = J^T lambda."""

    def check(inst):
        q = inst.gram
        lam, gap = solve_checked(spec, q, 0.0, inst.p, jacobian=inst.jacobian)
        asserts.assert_non_conflicting(q, lam, gap)
        d = inst.jacobian.T @ lam  # the same inequality on the explicit direction
        slack = (np.max(np.abs(q)) or 1.0) * (gap + asserts.ROUNDOFF)
        assert np.min(inst.jacobian @ d) >= d @ d - slack

    run_property(spec, instances_for(spec, beta_rel=(0.0,)), check, examples=EXAMPLES["non_conflicting"](spec))


@by_method
def test_lemma0(spec):
    """Lemma 0 (a), (b) and (c) (docs/theory.md) on the method's answers."""
    exact = SPEC_BY_NAME["active_set"]

    def check(inst):
        q = inst.gram
        lam, gap = solve_checked(spec, q, inst.beta, inst.p)
        asserts.assert_lemma0(q, lam, inst.beta, inst.p, gap)
        lam_star, gap_star = solve_checked(exact, q, 0.0, inst.p)
        asserts.assert_lemma0c(q, lam, inst.beta, inst.p, gap, lam_star, gap_star)

    run_property(spec, instances_for(spec), check, examples=EXAMPLES["lemma0"](spec))


@by_method
def test_lemma1(spec):
    """||lambda(Q) - lambda(Q')|| <= ||P_perp (Q - Q') lambda(Q')|| / beta on perturbed Gram pairs."""

    def check(args):
        seed, m, d, rel, beta_rel, p_kind = args
        rng = np.random.default_rng(seed)
        q, q2 = samplers.gram_pairs(rng, m, d, rel=rel)
        p = samplers.preference_for(rng, m, p_kind)
        p = p if p is not None else np.full(m, 1.0 / m)
        beta = beta_rel * float(np.max(np.abs(q)))
        lam, gap = solve_checked(spec, q, beta, p)
        lam2, gap2 = solve_checked(spec, q2, beta, p)
        asserts.assert_lemma1(q, lam, q2, lam2, beta, p, gap, gap2)
        asserts.assert_lemma1(q2, lam2, q, lam, beta, p, gap2, gap)

    strategy = st.tuples(
        st.integers(0, 2**32 - 1),
        st.integers(spec.m_min, spec.m_max),
        st.integers(1, 6),
        st.sampled_from([1e-6, 1e-3, 1e-1, 1.0]),
        st.sampled_from([1e-2, 1e-1, 1.0, 10.0]),
        st.sampled_from(["uniform", "interior", "sparse"]),
    )
    run_property(spec, strategy, check)


@by_method
def test_lemma1_is_tight(spec):
    """Q = 0 (lambda = p) against Q' with an interior lambda(Q'): Lemma 1 holds with equality."""
    rng = np.random.default_rng(7)
    m = spec.m_min if spec.name == "closed_form" else 3
    jac = 0.1 * rng.standard_normal((m, 4))
    q0, q2, p, beta = np.zeros((m, m)), jac @ jac.T, np.full(m, 1.0 / m), 1.0
    lam, gap = solve_checked(spec, q0, beta, p)
    lam2, gap2 = solve_checked(spec, q2, beta, p)
    assert np.all(lam2 > 0.01), "instance must have an interior solution"
    ratio = asserts.assert_lemma1(q0, lam, q2, lam2, beta, p, gap, gap2)
    if spec.exact:
        assert ratio >= LEMMA1_TIGHT_RATIO, f"Lemma 1 should be tight here, ratio {ratio}"


@by_method
def test_large_beta_gives_preference(spec):
    """beta -> inf gives p, with ||lambda - p|| <= ||P_perp Q p|| / beta."""

    def check(inst_b):
        inst, beta_rel = inst_b
        inst = inst.with_beta_rel(beta_rel)
        lam, gap = solve_checked(spec, inst.gram, inst.beta, inst.p)
        asserts.assert_near_preference(inst.gram, lam, inst.beta, inst.p, gap)

    strategy = st.tuples(instances_for(spec, scales=(1.0,)), st.sampled_from(LARGE_BETA_REL))
    run_property(spec, strategy, check, examples=EXAMPLES["large_beta"](spec))


@by_method
def test_batched_equals_single(spec):
    """A (2, 2, M, d) batch gives, per problem, the single-problem answer (to the certificates)."""

    def check(args):
        seed, m, d, beta_rel, family = args
        rng = np.random.default_rng(seed)
        insts = [samplers.sample(family, rng, m, d) for _ in range(4)]
        jac = np.stack([i.jacobian for i in insts]).reshape(2, 2, m, -1)
        p = rng.dirichlet(np.ones(m))
        beta = beta_rel * float(np.max(np.abs(jac @ np.swapaxes(jac, -1, -2))))
        res = spec.solve(jacobian=jac, beta=beta, preference=p)
        assert res.weights.shape == (2, 2, m) and res.direction.shape == (2, 2, jac.shape[-1])
        assert res.value.shape == res.kkt_residual.shape == res.statuses.shape == (2, 2)
        assert res.status is max(res.statuses.ravel(), key=lambda s: s.severity)
        for idx in np.ndindex(2, 2):
            j = jac[idx]
            single = spec.solve(jacobian=j, beta=beta, preference=p)
            check_answer(spec, single, j @ j.T, beta, p, jacobian=j)
            assert res.statuses[idx] is single.status or not spec.exact
            assert np.allclose(res.direction[idx], j.T @ res.weights[idx], rtol=1e-12, atol=1e-12 * np.abs(j).max())
            asserts.assert_same_solution(
                j @ j.T, res.weights[idx], single.weights, beta, p, float(res.gap[idx]), float(single.gap)
            )
            if spec.exact:
                assert res.statuses[idx] is fc.SolverStatus.CONVERGED
                asserts.assert_kkt(j @ j.T, res.weights[idx], beta, p, EXACT_KKT_TOL)

    strategy = st.tuples(
        st.integers(0, 2**32 - 1),
        st.integers(spec.m_min, min(spec.m_max, 6)),
        st.integers(1, 6),
        st.sampled_from(samplers.BETA_REL),
        st.sampled_from(list(samplers.FAMILIES)),
    )
    run_property(spec, strategy, check, examples=EXAMPLES["batched"](spec), share=BATCH_SHARE)


@by_method
def test_gram_input_agrees_with_jacobian_input(spec):
    """A server holding only Gram entries (with round-off asymmetry) gets the same lambda; no direction."""

    def check(inst_q):
        inst, q_received = inst_q
        res_g = spec.solve(gram=q_received, beta=inst.beta, preference=inst.preference)
        assert res_g.direction is None
        q_sym = 0.5 * (q_received + q_received.T)  # what firm_core solves (documented symmetrization)
        check_answer(spec, res_g, q_sym, inst.beta, inst.p)
        lam, gap = solve_checked(spec, inst.gram, inst.beta, inst.p, jacobian=inst.jacobian)
        # on the exact Gram the received answer's gradient moves by at most M max|Q - Q_sym| per entry,
        # so its relative gap grows by at most 2 M max|Q - Q_sym| / s
        s = float(np.max(np.abs(inst.gram))) + inst.beta or 1.0
        moved = 2 * inst.m * float(np.max(np.abs(inst.gram - q_sym))) / s
        asserts.assert_same_solution(inst.gram, lam, res_g.weights, inst.beta, inst.p, gap, float(res_g.gap) + moved)

    strategy = strategies.grams(m=st.integers(spec.m_min, spec.m_max))
    run_property(spec, strategy, check, examples=EXAMPLES["gram_input"](spec), share=GRAM_SHARE)


@given(st.integers(1, 7).flatmap(lambda m: st.tuples(st.integers(0, 2**32 - 1), st.just(m))))
def test_folding_matrix_folds_the_regularizer(seed_m):
    """lambda^T P lambda = ||lambda - p||^2 for lambda on the simplex, P = folding_matrix(p) PSD."""
    seed, m = seed_m
    rng = np.random.default_rng(seed)
    p, lam = rng.dirichlet(np.ones(m)), rng.dirichlet(np.ones(m), size=16)
    fold = fc.folding_matrix(p)
    assert np.allclose(np.einsum("bi,ij,bj->b", lam, fold, lam), np.sum((lam - p) ** 2, axis=1), atol=1e-14)
    assert np.min(np.linalg.eigvalsh(fold)) >= -1e-14 and np.allclose(fold, fold.T)


def test_closed_form_equals_exact():
    """M = 2: the closed form and support enumeration / NNLS agree to round-off."""
    cf, en, act = (SPEC_BY_NAME[n] for n in ("closed_form", "enumeration", "active_set"))

    @strategies.with_examples(samplers.one_of_each(2, 3) + samplers.one_of_each(2, 1, seed=1))
    @given(strategies.instances(m=st.just(2)))
    def check(inst):
        q = inst.gram
        lam, gap = solve_checked(cf, q, inst.beta, inst.p)
        for other in (en, act):
            lam_o, gap_o = solve_checked(other, q, inst.beta, inst.p)
            asserts.assert_same_solution(q, lam, lam_o, inst.beta, inst.p, gap, gap_o)

    check()


@pytest.mark.parametrize(
    "families", [samplers.STATIONARY_FAMILIES, samplers.NON_STATIONARY_FAMILIES, ("one_column",)],
    ids=["stationary", "not_stationary", "d1"],
)
def test_pareto_stationarity_zero_iff_zero_in_hull(families):
    """phi = 0 exactly when 0 is in the hull of the rows (instances built both ways); phi = known value."""

    @strategies.with_examples([i for m in (1, 4, 7) for i in samplers.one_of_each(m, 3, families=families, beta_rel=(0.0,))])
    @given(strategies.instances(m=st.integers(1, 7), families=families, beta_rel=(0.0,)))
    def check(inst):
        phi = float(fc.pareto_stationarity(inst.jacobian))
        scale = float(np.max(np.abs(inst.gram))) if np.any(inst.jacobian) else 1.0
        asserts.assert_stationarity(
            phi, scale, stationary=inst.stationary, phi_known=inst.phi, phi_lower=inst.phi_lower, tol=EXACT_KKT_TOL
        )
        if inst.minimizer is not None:  # the known minimizer attains phi
            w = inst.minimizer
            assert abs(float(w @ inst.gram @ w) - phi) <= EXACT_KKT_TOL * scale

    check()


def test_pareto_stationarity_batched_and_from_gram():
    rng = np.random.default_rng(3)
    insts = [samplers.sample(f, rng, 4, 5) for f in (*samplers.STATIONARY_FAMILIES, *samplers.NON_STATIONARY_FAMILIES)]
    jac = np.stack([i.jacobian for i in insts])
    phi = fc.pareto_stationarity(jac)
    assert phi.shape == (len(insts),)
    for k, inst in enumerate(insts):
        assert phi[k] == pytest.approx(float(fc.pareto_stationarity(inst.jacobian)), abs=1e-14)
        assert float(fc.pareto_stationarity(gram=inst.gram)) == pytest.approx(float(phi[k]), abs=1e-14)
    stationary = np.array([i.stationary for i in insts])
    assert np.all(phi[stationary] <= 1e-14) and np.all(phi[~stationary] > 1e-3)


def test_cvxpy_agrees_with_every_exact_method():
    """The reference solver agrees with each exact method on random instances (M <= 5)."""
    cvx = SPEC_BY_NAME["cvxpy"]

    fams = ("gaussian", "low_rank", "halfspace", "stationary_shift")

    @settings(max_examples=6)
    @strategies.with_examples(samplers.one_of_each(2, 3, families=fams) + samplers.one_of_each(5, 4, families=fams))
    @given(strategies.instances(m=st.integers(2, 5), families=fams))
    def check(inst):
        q = inst.gram
        lam_c, gap_c = solve_checked(cvx, q, inst.beta, inst.p)
        for name in ("enumeration", "active_set", "auto"):
            lam, gap = solve_checked(SPEC_BY_NAME[name], q, inst.beta, inst.p)
            asserts.assert_same_solution(q, lam, lam_c, inst.beta, inst.p, gap, gap_c)

    check()


def test_preference_default_is_uniform():
    inst = samplers.sample("gaussian", np.random.default_rng(5), 4, 3).with_beta_rel(1.0)
    a = fc.solve_min_norm(inst.jacobian, beta=inst.beta)
    b = fc.solve_min_norm(inst.jacobian, beta=inst.beta, preference=np.full(4, 0.25))
    assert np.array_equal(a.weights, b.weights)


def test_sampler_facts_hold():
    """The samplers' claimed facts hold by construction (checked without any solver)."""
    rng = np.random.default_rng(11)
    for _ in range(20):
        for fam in samplers.STATIONARY_FAMILIES + samplers.NON_STATIONARY_FAMILIES:
            inst = samplers.sample(fam, rng, 5, 4)
            if inst.minimizer is not None:
                asserts.assert_on_simplex(inst.minimizer)
                attained = float(np.sum((inst.jacobian.T @ inst.minimizer) ** 2))
                assert attained == pytest.approx(inst.phi, rel=1e-12, abs=1e-24)
            if fam == "halfspace":  # a separating direction certifies phi >= delta^2 for all l
                lam = rng.dirichlet(np.ones(5), size=200)
                assert np.min(np.sum((lam @ inst.jacobian) ** 2, axis=-1)) >= inst.phi_lower
        low = samplers.sample("low_rank", rng, 6, 5)
        assert np.linalg.matrix_rank(low.jacobian) == low.rank
    scaled = replace(samplers.sample("gaussian", rng, 3, 2), beta=2.0).scaled(10.0)
    assert scaled.beta == pytest.approx(200.0)
