"""LoRA RLHF as a client task of the federated engine: x is the flattened LoRA adapter.

The engine's parameter vector x (float64, host memory, d = adapter size) is the adapter flattened in
sorted state-key order (``policy.state_to_vector``); the task converts it to the adapter's own dtype
and device when a client starts from it, and its uploads back to float64. All clients share ONE frozen
base model and run one after the other, each loading the point it starts from, so memory grows with
the number of clients only by the uploaded vectors.

Client work (all randomness from the client's generator ``rng``: prompts, and the torch seed of
every sampling call):
    local_update          K RLHF steps (``trainer.local_steps``: a fresh optimizer per client and
                          round, on-policy group sampling, per-objective losses); mode "firm":
                          lambda = argmin 0.5 l^T Q l + 0.5 beta' ||l - p_i||^2 with beta' = beta
                          tr(Q)/M when ``beta_relative`` (beta = 0: Local-MGDA); "scalarized":
                          lambda = p_i (FedAvg-LS); "fixed_lambda": the server's lambda (FedCMOO).
    per_objective_update  K steps on each objective's loss alone from x (FMGDA / FSMGDA); FMGDA
                          ("full batch", ``stochastic=False``) uses the client's whole prompt pool at
                          every step, FSMGDA ``prompts_per_step`` prompts. Updates x - y_{i,m}.
    sketch_jacobians      the M per-objective gradients of the adapter at x on one on-policy batch.

A client that raises, produces a non-finite loss or gradient (the step is not taken), or uploads an
adapter of the wrong layout or with non-finite entries is dropped with the reason; the others go on.

Metrics of a point x (:meth:`RLHFTask.evaluate`, seeded, on the evaluation prompts): mean reward per
objective, KL(pi_x || reference) per completion, and ``objectives`` f_m(x) = -(mean reward m), so that
smaller is better as for every other task. phi (Pareto stationarity from full gradients) is NaN: the
exact gradient of an expected reward is not available, only its sampled estimate.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from firm_core.federated.client import LocalResult
from firm_core.result import SolverStatus

from ._imports import require_llm_stack
from .client_data import check_preferences
from .prompts import all_prompts
from .policy import (
    adapter_state,
    state_nbytes,
    state_ordered_parameters,
    state_to_vector,
    vector_to_state,
)
from .trainer import RLHFConfig, draw_prompts, evaluate, local_steps, objective_jacobian

require_llm_stack()

import torch  # noqa: E402

LOCAL_MODES = ("firm", "scalarized", "fixed_lambda")
#: the torch seed of the evaluation sampling is this plus the run seed (as the `firm rlhf` job always did)
EVAL_SEED_OFFSET = 777


class ClientFault(RuntimeError):
    """A client's work failed in a way that drops the client (not the run)."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClientFault):
        return str(exc)
    return f"client raised {type(exc).__name__}: {exc}"


class RLHFTask:
    """Federated LoRA RLHF clients behind the engine's ClientTask interface.

    model / tokenizer : a PEFT LoRA model over a frozen base (``policy.attach_lora``) and its tokenizer.
    rewards : M reward sources (``rewards.resolve_reward``), objective m = reward m.
    pools : one prompt pool per client (N lists).
    local : RLHFConfig of the local steps; its algorithm / beta / preference / lr fields are replaced
        by what the engine passes (so only group_size, max_new_tokens, kl_coef, optimizer, ... count).
    client_preferences : (N, M) per-client p_i, or None (every client uses the engine's p).
        When given they take precedence over the algorithm's shared preference.
    client_weights : (N,) >= 0, or None: proportional to the pool sizes. Normalized to sum 1.
    eval_prompts / eval_samples / seed : the evaluation batch: ``eval_samples`` completions of each
        evaluation prompt (default: every shipped prompt), sampled with torch seed seed + EVAL_SEED_OFFSET.
        ``eval_samples`` = 0: no evaluation (``evaluate`` returns NaN metrics without sampling).
    kl_controller : None (``local.kl_coef`` throughout) or a ``kl_control`` controller whose ``value`` is
        the clients' KL coefficient; the run updates it once per round (:meth:`update_kl`).
    description : JSON-safe dict merged into :meth:`describe` (how the task was built).
    """

    def __init__(self, model, tokenizer, rewards, pools, local: RLHFConfig | None = None, *,
                 client_preferences=None, client_weights=None, eval_prompts=None, eval_samples: int = 8,
                 seed: int = 0, kl_controller=None, description: dict | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.rewards = list(rewards)
        names = [r.name for r in self.rewards]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"`rewards` must be M >= 1 sources with distinct names, got {names}")
        self.objective_names = names
        self.pools = [list(p) for p in pools]
        if not self.pools or any(not p for p in self.pools):
            raise ValueError(f"`pools` must hold one non-empty prompt list per client, got sizes {[len(p) for p in self.pools]}")
        self.local = local or RLHFConfig()
        if not isinstance(self.local, RLHFConfig):
            raise TypeError(f"`local` must be an RLHFConfig, got {type(self.local).__name__}")
        self.num_clients = len(self.pools)
        self.num_objectives = len(names)
        self.client_preferences = check_preferences(client_preferences, self.num_clients, self.num_objectives)
        w = np.array([len(p) for p in self.pools] if client_weights is None else client_weights, dtype=np.float64)
        if w.shape != (self.num_clients,) or not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise ValueError(f"`client_weights` must be N = {self.num_clients} finite weights >= 0 with a positive sum, "
                             f"got {w.tolist()}")
        self.client_weights = w / w.sum()
        if isinstance(eval_samples, bool) or not isinstance(eval_samples, int) or eval_samples < 0 or eval_samples == 1:
            raise ValueError(f"`eval_samples` must be 0 (no evaluation) or an integer >= 2, got {eval_samples!r}")
        self.eval_samples = eval_samples
        self.eval_prompts = list(eval_prompts) if eval_prompts is not None else all_prompts()
        self.seed = int(seed)
        self._template = adapter_state(model)  # layout (keys, shapes, dtypes, device) of every adapter
        self._x0 = state_to_vector(self._template)
        self.dim = int(self._x0.size)
        self._keys = sorted(self._template)
        self._params = state_ordered_parameters(model)  # aligned with self._keys
        self._description = dict(description or {})
        self.round_log: list[dict] = []  # what each call of client work did (training rewards, KL, lambdas)
        self.popped_client_lambdas = np.full((self.num_clients, self.num_objectives), np.nan)
        self.last_eval: dict = {}
        self.kl_controller = kl_controller
        self._kl_initial = None if kl_controller is None else kl_controller.to_dict()
        if kl_controller is not None:
            self.local = dataclasses.replace(self.local, kl_coef=float(kl_controller.value))

    def reset_kl(self, state: dict | None = None) -> None:
        """Restart the KL controller from ``state`` (a ``to_dict``) or from its initial state."""
        from .kl_control import controller_from_dict

        if self.kl_controller is not None:
            self.kl_controller = controller_from_dict(state if state is not None else self._kl_initial)
            self.local = dataclasses.replace(self.local, kl_coef=float(self.kl_controller.value))

    def update_kl(self, mean_kl: float) -> None:
        """Fold one round's mean training KL into the controller; the next round uses its new value."""
        if self.kl_controller is not None and math.isfinite(mean_kl):
            self.local = dataclasses.replace(self.local, kl_coef=float(self.kl_controller.update(float(mean_kl))))

    # --- the ClientTask attributes ----------------------------------------------------------------
    @property
    def bytes_per_float(self) -> int:
        """Bytes of one transmitted adapter entry (the adapter tensors' element size: 4 for float32)."""
        return int(next(iter(self._template.values())).element_size())

    @property
    def row_dtype(self):
        """dtype of the clients' result rows: float32 for adapters of at most 4 bytes per entry (their values
        are exact in float32, and the server keeps half the memory per client), else float64."""
        return np.float32 if self.bytes_per_float <= 4 else np.float64

    @property
    def adapter_nbytes(self) -> int:
        """Bytes of one serialized adapter: sum of numel * element size over its tensors."""
        return state_nbytes(self._template)

    @property
    def device(self):
        return next(iter(self._template.values())).device

    @property
    def evaluates(self) -> bool:
        """False with ``eval_samples`` = 0: the engine then evaluates no round (F(x_t) stays NaN)."""
        return self.eval_samples > 0

    def initial_point(self) -> np.ndarray:
        return self._x0.copy()

    def describe(self) -> dict:
        return {"name": "rlhf", "objectives": list(self.objective_names), "num_clients": self.num_clients,
                "dim": self.dim, "pool_sizes": [len(p) for p in self.pools],
                "client_weights": self.client_weights.tolist(),
                "client_preferences": None if self.client_preferences is None else self.client_preferences.tolist(),
                "local": {k: v for k, v in dataclasses.asdict(self.local).items()
                          if k not in ("algorithm", "beta", "preference", "lr")
                          and not (k == "kl_coef" and self.kl_controller is not None)},  # it moves
                "kl_controller": self._kl_initial,
                "eval_samples": self.eval_samples, "seed": self.seed, **self._description}

    # --- points <-> adapters ----------------------------------------------------------------------
    def load_point(self, x) -> None:
        """Load the flattened adapter x (float64, (d,)) into the model, in the adapter's dtype and device
        (one host-to-device copy, then each parameter takes its slice)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.dim,):
            raise ValueError(f"`x` must have shape ({self.dim},) (the flattened adapter), got {x.shape}")
        p0 = self._params[0]
        flat = torch.from_numpy(x).to(device=p0.device, dtype=p0.dtype)
        with torch.no_grad():
            start = 0
            for p in self._params:
                p.copy_(flat[start : start + p.numel()].view_as(p))
                start += p.numel()

    def current_state(self) -> dict:
        """The adapter tensors now in the model (views, not copies), keyed like a PEFT adapter state."""
        return {k: p.detach() for k, p in zip(self._keys, self._params, strict=True)}

    def point_state(self, x) -> dict:
        """The adapter tensors of the point x (for saving)."""
        return vector_to_state(np.asarray(x, dtype=np.float64), self._template)

    def check_upload(self, state: dict) -> np.ndarray:
        """The float64 vector of an uploaded adapter; ClientFault when its layout differs or it is not finite."""
        if set(state) != set(self._template):
            missing, extra = sorted(set(self._template) - set(state)), sorted(set(state) - set(self._template))
            raise ClientFault(f"wrong adapter: missing tensors {missing[:3]}, unexpected {extra[:3]}")
        for k, t in self._template.items():
            if tuple(state[k].shape) != tuple(t.shape) or state[k].dtype != t.dtype:
                raise ClientFault(f"wrong adapter shape for {k!r}: got {tuple(state[k].shape)} {state[k].dtype}, "
                                  f"expected {tuple(t.shape)} {t.dtype}")
        vec = state_to_vector(state)
        if not np.all(np.isfinite(vec)):
            raise ClientFault("non-finite adapter upload")
        return vec

    # --- client work --------------------------------------------------------------------------------
    def _preference(self, j: int, client: int, preference) -> np.ndarray:
        if self.client_preferences is not None:
            return self.client_preferences[client]
        p = np.asarray(preference, dtype=np.float64)
        return p[j] if p.ndim == 2 else p

    def _config(self, algorithm: str, beta: float, lr: float, preference) -> RLHFConfig:
        return dataclasses.replace(self.local, algorithm=algorithm, beta=float(beta), lr=float(lr),
                                   preference=tuple(float(v) for v in preference))

    def _client_steps(self, client: int, x, rng, cfg: RLHFConfig, steps: int, pool=None):
        """Run ``steps`` local steps of ``client`` from x; returns (uploaded adapter state, step records)."""
        self.load_point(x)
        recs = local_steps(self.model, self.tokenizer, self.rewards, self.pools[client] if pool is None else pool,
                           cfg, steps, rng)
        for k, r in enumerate(recs):
            if r.skipped:
                raise ClientFault(f"non-finite loss or gradient at local step {k}: {r.reason}")
        return self.current_state(), recs

    def local_update(self, clients, x, rngs, *, local_steps: int, lr: float, beta: float, preference,
                     mode: str, fixed_lambda=None, method: str = "auto") -> LocalResult:
        """K local RLHF steps of each client from x (see the module docstring). ``method`` (the numpy
        solver choice) is unused: the torch step solves lambda with firm_core's fastest exact method.
        The result's ``status`` is the worst lambda-solver status over the finished clients' steps."""
        clients = [int(c) for c in np.asarray(clients).reshape(-1)]
        n, m = len(clients), self.num_objectives
        x = self._check_call(clients, x, rngs, local_steps, "local_update")
        if mode not in LOCAL_MODES:
            raise ValueError(f"local_update: `mode` must be one of {LOCAL_MODES}, got {mode!r}")
        if mode == "fixed_lambda":
            lam = np.asarray(fixed_lambda, dtype=np.float64) if fixed_lambda is not None else None
            if lam is None or lam.shape not in ((m,), (n, m)) or not np.all(np.isfinite(lam)):
                raise ValueError(f"local_update: `fixed_lambda` must be finite with shape ({m},) or ({n}, {m}), "
                                 f"got {None if lam is None else lam.shape}")
            lam = np.broadcast_to(lam, (n, m))
        y = np.full((n, self.dim), np.nan, dtype=self.row_dtype)
        lambdas = np.full((n, local_steps, m), np.nan)
        valid = np.zeros(n, dtype=bool)
        reasons: list[str | None] = [None] * n
        log = _RoundLog("local_update", m)
        status = SolverStatus.CONVERGED
        for j, c in enumerate(clients):
            p = self._preference(j, c, preference)
            if mode == "firm":
                cfg = self._config("firm", beta, lr, p)
            else:  # one backward of lambda^T L with lambda = p_i (FedAvg-LS) or the server's lambda (FedCMOO)
                cfg = self._config("fedavg_ls", 0.0, lr, p if mode == "scalarized" else lam[j] / lam[j].sum())
            try:
                state, recs = self._client_steps(c, x, rngs[j], cfg, local_steps)
                y[j] = self.check_upload(state)
            except Exception as exc:  # noqa: BLE001 - a client's failure drops the client, not the run
                reasons[j] = _reason(exc)
                continue
            valid[j] = True
            lambdas[j] = [r.weights for r in recs]
            status = max([status, *(r.solver_status for r in recs)], key=lambda s: s.severity)
            log.add(c, recs, state_nbytes(state), pref=p)
        self.round_log.append(log.finish(lambdas.mean(axis=1)))
        return LocalResult(y=y, lambdas=lambdas, valid=valid, reasons=tuple(reasons), status=status)

    def per_objective_update(self, clients, x, rngs, *, local_steps: int, lr: float, stochastic: bool):
        """FMGDA / FSMGDA: K steps on each objective alone from x; (updates (n, M, d), valid, reasons)."""
        clients = [int(c) for c in np.asarray(clients).reshape(-1)]
        n, m = len(clients), self.num_objectives
        x = self._check_call(clients, x, rngs, local_steps, "per_objective_update")
        updates = np.full((n, m, self.dim), np.nan)
        valid = np.zeros(n, dtype=bool)
        reasons: list[str | None] = [None] * n
        log = _RoundLog("per_objective_update", m)
        for j, c in enumerate(clients):
            pool = self.pools[c]
            base = dataclasses.replace(self.local, prompts_per_step=len(pool)) if not stochastic else self.local
            try:
                nbytes, recs_all = 0, []
                for k in range(m):
                    onehot = np.eye(m)[k]
                    cfg = dataclasses.replace(base, algorithm="fedavg_ls", beta=0.0, lr=float(lr),
                                              preference=tuple(onehot))
                    state, recs = self._client_steps(c, x, rngs[j], cfg, local_steps, pool)
                    updates[j, k] = x - self.check_upload(state)
                    nbytes += state_nbytes(state)
                    recs_all.extend(recs)
            except Exception as exc:  # noqa: BLE001
                updates[j] = np.nan
                reasons[j] = _reason(exc)
                continue
            valid[j] = True
            log.add(c, recs_all, nbytes)
        self.round_log.append(log.finish(None))
        return updates, valid, tuple(reasons)

    def sketch_jacobians(self, clients, x, rngs):
        """Each client's M per-objective adapter gradients at x on one on-policy batch of
        ``prompts_per_step`` prompts; (J (n, M, d) float64, valid, reasons)."""
        clients = [int(c) for c in np.asarray(clients).reshape(-1)]
        n, m = len(clients), self.num_objectives
        x = self._check_call(clients, x, rngs, 1, "sketch_jacobians")
        jac = np.full((n, m, self.dim), np.nan)
        valid = np.zeros(n, dtype=bool)
        reasons: list[str | None] = [None] * n
        log = _RoundLog("sketch_jacobians", m)
        for j, c in enumerate(clients):
            try:
                self.load_point(x)
                prompts = draw_prompts(self.pools[c], self.local.prompts_per_step, rngs[j])
                g, batch = objective_jacobian(self.model, self.tokenizer, self.rewards, prompts, self.local,
                                              int(rngs[j].integers(2**31)), self._params)
                rows = g.detach().to(torch.float64).cpu().numpy()
                if rows.shape != (m, self.dim):
                    raise ClientFault(f"wrong Jacobian shape {rows.shape}, expected {(m, self.dim)}")
                if not np.all(np.isfinite(rows)):
                    raise ClientFault("non-finite loss or gradient in the sketched Jacobian")
            except Exception as exc:  # noqa: BLE001
                reasons[j] = _reason(exc)
                continue
            jac[j], valid[j] = rows, True
            log.add_batch(c, batch)
        self.round_log.append(log.finish(None))
        return jac, valid, tuple(reasons)

    @torch.no_grad()
    def evaluate(self, x) -> dict:
        """Seeded evaluation of x: {"phi": NaN, "objectives": -(mean reward per objective), "dist_pareto":
        None, "reward_<name>": mean reward, "kl": KL(pi_x || reference) per completion}."""
        if self.eval_samples == 0:
            self.last_eval = {}
            nan = np.full(self.num_objectives, np.nan)
            return {"phi": math.nan, "objectives": nan, "dist_pareto": None, "kl": math.nan,
                    **{f"reward_{n}": math.nan for n in self.objective_names}}
        self.load_point(x)
        ev = evaluate(self.model, self.tokenizer, self.rewards, self.eval_prompts, self.local,
                      seed=self.seed + EVAL_SEED_OFFSET, group_size=self.eval_samples)
        self.last_eval = ev
        r = np.asarray(ev["rewards"], dtype=np.float64)
        out = {"phi": math.nan, "objectives": -r, "dist_pareto": None}
        out.update({f"reward_{n}": float(v) for n, v in zip(self.objective_names, r, strict=True)})
        out["kl"] = float(ev["kl"])
        return out

    def pop_round_extras(self) -> dict[str, float]:
        """Training scalars of the client work since the last call (then forgotten): mean training
        reward per objective ("train_reward_<name>"), "train_kl", "client_uplink_bytes" (measured from
        the uploaded tensors, summed over clients) and, after a local update, "lambda_pref_dev" =
        mean_i ||lambda_i - p_i||^2 (lambda_i a client's mean lambda, p_i its preference).
        The engine calls it around every round and puts the answer in the round's record extras.
        ``popped_client_lambdas`` (N, M) then holds each client's mean lambda in the popped work (NaN
        for clients that ran no local update)."""
        logs, self.round_log = self.round_log, []
        self.popped_client_lambdas = _client_lambdas(logs, self.num_clients, self.num_objectives)
        out: dict[str, float] = {}
        rewards = [r for lg in logs for r in lg["rewards"]]
        kls = [k for lg in logs for k in lg["kl"]]
        if rewards:
            mean = np.mean(rewards, axis=0)
            out.update({f"train_reward_{n}": float(v) for n, v in zip(self.objective_names, mean, strict=True)})
            out["train_kl"] = float(np.mean(kls))
        out["client_uplink_bytes"] = float(sum(lg["uplink_bytes"] for lg in logs))
        devs = [d for lg in logs for d in lg["pref_dev"]]
        if devs:
            out["lambda_pref_dev"] = float(np.mean(devs))
        return out

    # --- checks -------------------------------------------------------------------------------------
    def _check_call(self, clients, x, rngs, steps, where: str) -> np.ndarray:
        bad = [c for c in clients if not 0 <= c < self.num_clients]
        if bad:
            raise ValueError(f"{where}: `clients` must be ids in [0, {self.num_clients}), got {bad}")
        if rngs is None or len(rngs) != len(clients):
            raise ValueError(f"{where}: `rngs` must hold one generator per client ({len(clients)}), "
                             f"got {None if rngs is None else len(rngs)}")
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
            raise ValueError(f"{where}: `local_steps` must be an integer >= 1, got {steps!r}")
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.dim,):
            raise ValueError(f"{where}: `x` must have shape ({self.dim},), got {x.shape}")
        return x


def _client_lambdas(logs: list[dict], n: int, m: int) -> np.ndarray:
    """(N, M): each client's mean lambda in the logged local updates (the last one wins; NaN if none)."""
    lam = np.full((n, m), np.nan)
    for lg in logs:
        if "client_lambdas" in lg:
            ok = ~np.isnan(lg["client_lambdas"]).any(axis=1)
            lam[np.asarray(lg["clients"], dtype=np.int64)] = lg["client_lambdas"][ok]
    return lam


class _RoundLog:
    """Accumulates what the clients of one call did."""

    def __init__(self, kind: str, m: int):
        self.kind, self.m = kind, m
        self.clients, self.rewards, self.kl, self.pref_dev = [], [], [], []
        self.uplink_bytes = 0
        self._prefs = {}

    def add(self, client, records, nbytes, pref=None):
        self.clients.append(client)
        self.rewards.extend(r.rewards for r in records)
        self.kl.extend(r.kl for r in records)
        self.uplink_bytes += int(nbytes)
        if pref is not None:
            self._prefs[client] = np.asarray(pref)

    def add_batch(self, client, batch):
        self.clients.append(client)
        self.rewards.append(batch.rewards.mean(axis=0))
        self.kl.append(batch.kl)

    def finish(self, mean_lambdas) -> dict:
        out = {"kind": self.kind, "clients": list(self.clients), "rewards": self.rewards, "kl": self.kl,
               "uplink_bytes": self.uplink_bytes, "pref_dev": []}
        if mean_lambdas is not None:
            out["client_lambdas"] = mean_lambdas
            ok = ~np.isnan(mean_lambdas).any(axis=1)
            if self._prefs and ok.any():
                prefs = np.array([self._prefs[c] for c in self.clients])
                out["pref_dev"] = np.sum((mean_lambdas[ok] - prefs) ** 2, axis=1).tolist()
        return out
