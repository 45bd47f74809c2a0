"""Execute notebooks/solvers_tour.ipynb and notebooks/federated_tour.ipynb and check what they measured.

Each tour's last cell prints a JSON summary of its measurements; the checks below hold the claims its text
makes (exact KKT residuals, Lemma 1, the beta path bounds, honest statuses; D_lambda falling like 1/beta^2, the
beta = 0 bias, FMGDA's M-fold uplink, the Pareto sweep). The same checks run on the outputs saved in the
repository, and each check is shown to reject a summary with one claim broken.
"""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest
from firm_core.tolerances import DTYPE_RTOL, EXACT_KKT_TOL
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tests.experiments.helpers import with_change
from tests.notebooks._run import ROOT, execute, read_summary

SOLVERS = ROOT / "notebooks" / "solvers_tour.ipynb"
FEDERATED = ROOT / "notebooks" / "federated_tour.ipynb"

#: A tour must execute within this (kernel start included) on the 2-core CI machine; measured 4-10 s.
TOUR_SECONDS = 30
#: Relative slack for a measured quantity against an analytic bound it may meet with equality (round-off).
BOUND_RTOL = 1e-9
#: Converged iterative methods (tol 1e-12 on a relative certificate) land within this of the exact weights on
#: the tour's well-conditioned M = 4 instance (measured 7e-12 for Frank-Wolfe, 2e-12 for projected gradient).
ITERATIVE_WEIGHT_TOL = 1e-9
#: The tour's beta = 10 pairs come within 4 % of Lemma 1's bound (measured ratio 0.96); a much smaller ratio
#: would mean the comparison no longer probes the bound.
LEMMA1_TIGHTNESS_MIN = 0.5
#: Batching 10^4 problems in one call against a loop of single calls (measured 60-95x on 2 shared cores).
BATCH_SPEEDUP_MIN = 5.0
#: D_lambda = O(1/beta^2): the log-log slope over the last decade of beta (measured -1.86) must be at most this.
DRIFT_SLOPE_MAX = -1.5
#: The beta = 0 bias is a plateau: phi at round T/2 and at round T agree to this relative tolerance (measured 0.8 %).
PLATEAU_RTOL = 0.05
#: Without heterogeneity Local-MGDA reaches machine precision (measured 4e-16).
HOMOGENEOUS_PHI_MAX = 1e-10
#: The heterogeneity bias at beta = 0 dwarfs the local-step drift floor of FedAvg-LS (measured ~100x).
BIAS_OVER_FLOOR_MIN = 10.0
#: FIRM (beta > 0) and FedAvg-LS reach the same end points of the concave Fonseca-Fleming front: their
#: hypervolumes agree to this fraction of the front's own (measured 5e-4).
FF_SAME_FRONT_TOL = 0.01


def _label(table: dict, prefix: str) -> str:
    hits = [k for k in table if k.startswith(prefix)]
    assert len(hits) == 1, f"expected one label starting with {prefix!r}, got {sorted(table)}"
    return hits[0]


def check_solvers_summary(s: dict) -> None:
    """Assert the claims of the solvers tour on its summary."""
    assert s["tour"] == "solvers"
    assert s["exact_kkt_tol"] == EXACT_KKT_TOL
    assert s["first_kkt_residual"] <= EXACT_KKT_TOL
    assert s["jacobian_vs_gram_max_diff"] <= DTYPE_RTOL[np.dtype(np.float64)]
    assert s["exact_kkt_max"] <= EXACT_KKT_TOL
    methods = {r["method"]: r for r in s["methods"]}
    for name in ("enumeration", "active_set", "frank_wolfe", "projected_gradient"):
        assert name in methods, f"method {name} missing from the table"
    for r in s["methods"]:
        assert r["status"] in ("converged", "max_iter"), r
        exact = r["method"] in ("enumeration", "active_set") or r["method"].startswith("auto->")
        if exact:
            assert r["status"] == "converged" and r["kkt"] <= EXACT_KKT_TOL and r["error"] <= EXACT_KKT_TOL, r
        elif r["status"] == "converged":
            assert r["error"] <= ITERATIVE_WEIGHT_TOL, r

    bp = s["beta_path"]
    assert bp["max_kkt"] <= EXACT_KKT_TOL and bp["norm_sq_monotone"] is True
    assert bp["dist_to_mgda_at_small_beta"] <= bp["bound_mgda"] * (1 + BOUND_RTOL)
    assert bp["dist_to_p_at_large_beta"] <= bp["bound_p"] * (1 + BOUND_RTOL)

    assert LEMMA1_TIGHTNESS_MIN <= s["lemma1_max_ratio"] <= 1 + BOUND_RTOL
    assert s["flip_at_beta_0"] > 0.5, "at beta = 0 the tiny change of Q should move lambda across the simplex"
    assert s["flip_at_beta_1"] <= s["flip_bound_at_beta_1"] * (1 + BOUND_RTOL)

    b = s["batch"]
    assert b["size"] == 10_000 and b["status"] == "converged"
    assert max(b["max_kkt"], b["max_kkt_m2"]) <= EXACT_KKT_TOL
    assert b["max_diff_vs_single"] <= DTYPE_RTOL[np.dtype(np.float64)]
    assert b["speedup"] >= BATCH_SPEEDUP_MIN

    fw = s["frank_wolfe_capped"]
    assert fw["status"] == "max_iter" and fw["success"] is False and fw["gap"] > EXACT_KKT_TOL
    assert fw["batch_statuses"] == ["converged", "max_iter"]


def check_federated_summary(s: dict) -> None:
    """Assert the claims of the federated tour on its summary."""
    assert s["tour"] == "federated"
    up, m = s["uplink_floats_per_round"], s["num_objectives"]
    assert up["firm"] > 0 and up["firm"] == up["local_mgda"] == up["fedavg_ls"]
    assert up["fmgda"] == m * up["firm"]

    dr = s["drift"]
    beta, d_lambda, phi_t = (np.asarray(dr[k], dtype=float) for k in ("beta", "d_lambda", "phi_T"))
    assert beta[0] == 0 and np.all(np.diff(beta) > 0)
    assert d_lambda[0] > 0 and np.all(np.diff(d_lambda) < 0), "D_lambda must fall as beta grows"
    assert np.all(np.diff(phi_t) < 0), "the bias phi(x_T) must fall as beta grows"
    slope = np.log(d_lambda[-1] / d_lambda[-2]) / np.log(beta[-1] / beta[-2])
    assert slope <= DRIFT_SLOPE_MAX, f"D_lambda slope {slope:.2f} over the last decade of beta"
    assert abs(dr["phi_half"][0] - phi_t[0]) <= PLATEAU_RTOL * phi_t[0], "beta = 0 should sit on a plateau"
    assert phi_t[0] >= BIAS_OVER_FLOOR_MIN * dr["fedavg_ls_phi_T"]
    homog = dr["phi_T_homogeneous"]
    assert homog["Local-MGDA, K = 5"] <= HOMOGENEOUS_PHI_MAX
    assert homog["FMGDA, K = 5"] >= BIAS_OVER_FLOOR_MIN * dr["fedavg_ls_phi_T"], "FMGDA's K-step floor at h = 0"
    assert homog["FMGDA, K = 1"] * 1e3 <= homog["FMGDA, K = 5"]

    vl, ff = s["sweep"]["vlmop"], s["sweep"]["fonseca_fleming"]
    for sw in (vl, ff):
        assert all(0 < hv <= sw["front_hypervolume"] for hv in sw["hypervolume"].values())
    firm, mgda = _label(vl["hypervolume"], "FIRM"), _label(vl["hypervolume"], "Local-MGDA")
    assert vl["hypervolume"][firm] > vl["hypervolume"][mgda] and vl["igd"][firm] < vl["igd"][mgda]
    firm, avg = _label(ff["hypervolume"], "FIRM"), _label(ff["hypervolume"], "FedAvg-LS")
    assert abs(ff["hypervolume"][firm] - ff["hypervolume"][avg]) <= FF_SAME_FRONT_TOL * ff["front_hypervolume"]


TOURS = {"solvers": (SOLVERS, check_solvers_summary), "federated": (FEDERATED, check_federated_summary)}


@pytest.mark.parametrize("tour", sorted(TOURS))
def test_tour_executes_and_its_measurements_hold(tour):
    path, check = TOURS[tour]
    nb, seconds = execute(path)
    assert seconds < TOUR_SECONDS, f"{path.name} took {seconds:.1f} s"
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 2, f"{path.name} drew {images} figures"
    check(read_summary(nb))


@pytest.mark.parametrize("tour", sorted(TOURS))
def test_saved_tour_carries_its_outputs(tour):
    """The repository holds the tours executed, in order, with outputs whose summary passes the same checks."""
    path, check = TOURS[tour]
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    check(read_summary(nb))


def _saved(path):
    return read_summary(nbformat.read(path, as_version=4))


SOLVER_BREAKS = {
    "exact residual too large": (("exact_kkt_max",), 1e-6),
    "honest status claimed converged": (("frank_wolfe_capped", "status"), "converged"),
    "Lemma 1 violated": (("lemma1_max_ratio",), 1.2),
    "large-beta bound violated": (("beta_path", "dist_to_p_at_large_beta"), 1e-3),
    "batch disagrees with single solves": (("batch", "max_diff_vs_single"), 1e-6),
}
FEDERATED_BREAKS = {
    "FMGDA uploads as much as FIRM": (("uplink_floats_per_round", "fmgda"), 80),
    "D_lambda not falling": (("drift", "d_lambda"), [8e-3, 9e-3, 7e-3, 3e-3, 2e-4, 3e-6]),
    "no 1/beta^2 decay": (("drift", "d_lambda"), [8e-3, 7e-3, 6e-3, 5e-3, 4e-3, 3e-3]),
    "bias present without heterogeneity": (("drift", "phi_T_homogeneous", "Local-MGDA, K = 5"), 1e-3),
    "front hypervolume exceeded": (("sweep", "vlmop", "front_hypervolume"), 0.5),
}


@pytest.mark.parametrize("name", sorted(SOLVER_BREAKS))
def test_solvers_check_rejects_a_broken_claim(name):
    keys, value = SOLVER_BREAKS[name]
    good = _saved(SOLVERS)
    check_solvers_summary(good)
    with pytest.raises(AssertionError):
        check_solvers_summary(with_change(good, keys, value))


@pytest.mark.parametrize("name", sorted(FEDERATED_BREAKS))
def test_federated_check_rejects_a_broken_claim(name):
    keys, value = FEDERATED_BREAKS[name]
    good = _saved(FEDERATED)
    check_federated_summary(good)
    with pytest.raises(AssertionError):
        check_federated_summary(with_change(good, keys, value))


def test_read_summary_rejects_a_notebook_without_one():
    with pytest.raises(ValueError, match="no code cell"):
        read_summary(new_notebook(cells=[new_markdown_cell("text only")]))
    printed = new_code_cell("print('done')", outputs=[nbformat.v4.new_output("stream", name="stdout", text="done\n")])
    with pytest.raises(ValueError, match="not JSON"):
        read_summary(new_notebook(cells=[printed]))
    listed = new_code_cell("", outputs=[nbformat.v4.new_output("stream", name="stdout", text=json.dumps([1, 2]))])
    with pytest.raises(ValueError, match="JSON object"):
        read_summary(new_notebook(cells=[listed]))
