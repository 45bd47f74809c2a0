"""The result object every min-norm solver returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

import numpy as np


class SolverStatus(enum.Enum):
    """Why a solve stopped. Batched results hold the worst status over the batch."""

    CONVERGED = "converged"  # the method's own certificate met `tol`, and the post-check agreed
    MAX_ITER = "max_iter"  # iteration cap reached before the certificate met `tol`
    NUMERICAL = "numerical"  # the post-check rejected the answer (infeasible, or residual above tol)

    @property
    def severity(self) -> int:
        return {"converged": 0, "max_iter": 1, "numerical": 2}[self.value]


@dataclass(frozen=True)
class MinNormResult:
    """Solution of ``min_{l in simplex} 0.5 l^T Q l + 0.5 beta ||l - p||^2`` (batched over leading axes).

    Attributes
    ----------
    weights : (..., M) the minimizer lambda, on the simplex.
    direction : (..., d) ``J^T lambda``; ``None`` when only the Gram matrix was given.
    value : (...) ``0.5 l^T Q l + 0.5 beta ||l - p||^2``.
    norm_sq : (...) ``l^T Q l = ||J^T l||^2``.
    kkt_residual : (...) relative KKT residual ``||l - Proj(l - g / s)||``,
        ``g = Q l + beta (l - p)``, ``s = max|Q| + beta``; 0 exactly at the optimum.
    gap : (...) relative Frank-Wolfe (duality) gap ``(g^T l - min_m g_m) / s``, an upper bound on the
        relative suboptimality of ``value``.
    iterations : (...) iterations used per problem (1 for closed forms).
    status : worst :class:`SolverStatus` over the batch; ``statuses`` holds it per problem.
    message : human-readable reason for the status.
    method : name of the method that ran.

    A solver may leave the diagnostic fields to be built on first access (:meth:`deferred`): they are
    computed in the call (the answer is certified before it is returned), only their arrays and the
    message are made when read. Attribute access, equality, repr, copies and pickles see every field.
    """

    weights: np.ndarray
    direction: np.ndarray | None
    value: np.ndarray
    norm_sq: np.ndarray
    kkt_residual: np.ndarray
    gap: np.ndarray
    iterations: np.ndarray
    status: SolverStatus
    statuses: np.ndarray
    message: str
    method: str

    @property
    def success(self) -> bool:
        return self.status is SolverStatus.CONVERGED

    @classmethod
    def deferred(cls, build, args: tuple, **now) -> "MinNormResult":
        """A result holding the fields ``now`` and the others as ``build(*args)`` (a dict of the
        remaining fields), called on the first access to any of them (once, unless two threads race)."""
        res = object.__new__(cls)
        res.__dict__.update(now, _deferred=(build, args))
        return res

    def __getattr__(self, name: str):  # reached only for names not in the instance dict
        if name in _FIELD_NAMES:
            self._materialize()
            if name in self.__dict__:
                return self.__dict__[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _materialize(self) -> None:
        """Build the deferred fields and drop the recipe (after the fields are in: a concurrent reader
        sees either the recipe or the fields; at worst both build the same values)."""
        pending = self.__dict__.get("_deferred")
        if pending is not None:
            build, args = pending
            self.__dict__.update(build(*args))
            self.__dict__.pop("_deferred", None)

    def __getstate__(self) -> dict:
        self._materialize()
        return dict(self.__dict__)


_FIELD_NAMES = frozenset(f.name for f in fields(MinNormResult))
