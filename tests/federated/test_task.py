"""The ClientTask protocol: the algorithms use nothing else, so a task with its own client loop (one
client at a time, like a stateful backend) runs every algorithm exactly like the numpy problem."""

import numpy as np
import pytest

from firm_core.federated import (
    ALGORITHMS,
    AlgorithmConfig,
    ClientTask,
    History,
    LocalResult,
    ProblemTask,
    RunConfig,
    as_client_task,
    evaluate_point,
    resolve_method,
    run,
)
from firm_core.result import SolverStatus
from firm_core.weighting import firm_step
from tests.federated._problems import random_scalar_quadratic

#: The sequential task vs the batched numpy task: the same arithmetic up to summation order.
SAME_RUN_TOL = 1e-12


class SequentialTask:
    """A ClientTask written from scratch: clients one at a time, steps by firm_core.weighting.firm_step,
    and an extra evaluation scalar. It has none of a Problem's oracles."""

    def __init__(self, problem):
        self._p = problem
        self.num_clients, self.num_objectives, self.dim = problem.num_clients, problem.num_objectives, problem.dim
        self.client_weights = problem.client_weights

    def initial_point(self):
        return self._p.initial_point()

    def describe(self):
        return {"name": "sequential", "dim": self.dim}

    def _jac(self, c, y, rng):
        return self._p.stochastic_jacobians(np.array([c]), y[None], [rng])[0]

    def local_update(self, clients, x, rngs, *, local_steps, lr, beta, preference, mode, fixed_lambda=None,
                     method="auto"):
        n, m = len(clients), self.num_objectives
        ys, lams = np.empty((n, self.dim)), np.empty((n, local_steps, m))
        for j, (c, rng) in enumerate(zip(clients, rngs, strict=True)):
            y = np.array(x, dtype=float)
            for k in range(local_steps):
                jac = self._jac(c, y, rng)
                if mode == "firm":
                    y, lams[j, k], _ = firm_step(y, jac, lr, beta=beta, preference=preference,
                                                 method=resolve_method(method, m))
                else:
                    lams[j, k] = preference if mode == "scalarized" else fixed_lambda
                    y = y - lr * lams[j, k] @ jac
            ys[j] = y
        return LocalResult(ys, lams, np.ones(n, dtype=bool), (None,) * n, SolverStatus.CONVERGED)

    def per_objective_update(self, clients, x, rngs, *, local_steps, lr, stochastic):
        n, m = len(clients), self.num_objectives
        out = np.empty((n, m, self.dim))
        for j, c in enumerate(clients):
            y = np.tile(np.asarray(x, dtype=float), (m, 1))
            for _ in range(local_steps):
                for obj in range(m):  # the client's generator serves its objectives in order
                    jac = self._jac(c, y[obj], rngs[j]) if stochastic else self._p.client_jacobians(
                        np.array([c]), y[obj][None])[0]
                    y[obj] = y[obj] - lr * jac[obj]
            out[j] = x - y
        return out, np.ones(n, dtype=bool), (None,) * n

    def sketch_jacobians(self, clients, x, rngs):
        jac = np.stack([self._jac(c, np.asarray(x, dtype=float), r) for c, r in zip(clients, rngs, strict=True)])
        return jac, np.ones(len(clients), dtype=bool), (None,) * len(clients)

    def evaluate(self, x):
        values = self._p.values(x)
        jac = self._p.jacobian(x)
        from firm_core import pareto_stationarity

        return {"phi": float(pareto_stationarity(jac)), "objectives": values, "dist_pareto": None,
                "reward": -float(values.sum())}


def _problem():
    return random_scalar_quadratic(num_clients=4, num_objectives=3, dim=3, noise_std=0.3, seed=6,
                                   weights=np.array([0.4, 0.1, 0.2, 0.3]))


@pytest.mark.parametrize("name", ALGORITHMS)
def test_a_task_with_its_own_client_loop_runs_every_algorithm_like_the_numpy_problem(name, tmp_path):
    prob = _problem()
    task = SequentialTask(prob)
    assert isinstance(task, ClientTask) and as_client_task(task) is task
    assert not hasattr(task, "stochastic_jacobians")  # the algorithms cannot reach past the protocol
    extra = {"beta": 0.6} if name in ("firm", "fedcmoo") else {}
    cfg = AlgorithmConfig(name=name, local_steps=2, lr=0.1, participation=3, seed=2, sketch_rank=2, **extra)
    h_task = run(task, cfg, RunConfig(rounds=4), progress=False)
    h_prob = run(prob, cfg, RunConfig(rounds=4), progress=False)
    np.testing.assert_allclose(h_task.final_x, h_prob.final_x, rtol=0, atol=SAME_RUN_TOL)
    assert np.max(np.abs(h_task.final_x - prob.initial_point())) > 0.1  # it moved
    for a, b in zip(h_task.records, h_prob.records, strict=True):
        assert a.participants == b.participants
        np.testing.assert_allclose(a.lambda_mean, b.lambda_mean, rtol=0, atol=SAME_RUN_TOL)
        assert a.extras == {"reward": pytest.approx(-sum(a.objectives), abs=SAME_RUN_TOL)}
        assert b.extras == {}
    h_task.to_json(tmp_path / "h.json")
    back = History.from_json(tmp_path / "h.json")
    assert [r.extras for r in back.records] == [r.extras for r in h_task.records]


def test_as_client_task_wraps_a_problem_and_refuses_anything_else():
    prob = _problem()
    task = as_client_task(prob)
    assert isinstance(task, ProblemTask) and isinstance(task, ClientTask) and task.problem is prob
    assert (task.num_clients, task.num_objectives, task.dim) == (4, 3, 3)
    np.testing.assert_array_equal(task.client_weights, prob.client_weights)
    point = task.evaluate(prob.initial_point())
    assert set(point) == {"phi", "objectives", "dist_pareto"}
    with pytest.raises(TypeError, match="`problem`.*dict"):
        as_client_task({"num_clients": 3})
    with pytest.raises(ValueError, match="`x`"):
        task.sketch_jacobians([0], np.zeros(5), [np.random.default_rng(0)])


def test_evaluate_point_rejects_a_task_evaluation_without_the_core_metrics():
    class NoPhi(SequentialTask):
        def evaluate(self, x):
            return {"objectives": np.zeros(3), "dist_pareto": None}

    with pytest.raises(ValueError, match="phi"):
        evaluate_point(NoPhi(_problem()), np.zeros(3))
