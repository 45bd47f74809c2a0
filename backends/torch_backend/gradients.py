"""Per-objective gradients of M scalar losses over a parameter set: the Jacobian J (M x d).

Row m of J is grad_theta L_m, flattened over the parameters in order. Two exact methods:

- ``"autograd"``: M ``torch.autograd.grad`` calls (``retain_graph`` on all but the last). Exact, and the
  fastest on CPU (measured by benchmarks/bench_torch.py).
- ``"batched"``: one ``torch.autograd.grad`` over the stacked losses with ``is_grads_batched=True``
  (vmap over the M unit cotangents). Agrees with ``"autograd"`` to round-off; 8-27 % slower on CPU
  (no vmap rule for the SDPA backward). An op without a batching rule raises; nothing falls back silently.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._imports import require_torch

torch = require_torch()

GRADIENT_METHODS = ("autograd", "batched")


def as_loss_list(losses, where: str = "losses") -> list:
    """Validate M >= 1 scalar loss tensors (a sequence, or a 1-D tensor of M entries)."""
    if isinstance(losses, torch.Tensor):
        if losses.ndim != 1:
            raise ValueError(f"`{where}` as a tensor must be 1-D (M,), got shape {tuple(losses.shape)}")
        losses = list(losses.unbind(0))
    if not isinstance(losses, Sequence) or len(losses) == 0:
        raise ValueError(f"`{where}` must be a non-empty sequence of scalar tensors, got {losses!r}")
    out = []
    for m, loss in enumerate(losses):
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"`{where}[{m}]` must be a torch.Tensor, got {type(loss).__name__}")
        if loss.numel() != 1:
            raise ValueError(f"`{where}[{m}]` must be a scalar, got shape {tuple(loss.shape)}")
        if not loss.requires_grad:
            raise ValueError(f"`{where}[{m}]` does not require grad (is it detached from the parameters?)")
        out.append(loss.reshape(()))
    return out


def as_param_list(params, where: str = "params") -> list:
    """Validate a non-empty list of leaf tensors that require grad."""
    params = list(params)
    if not params:
        raise ValueError(f"`{where}` must hold at least one parameter, got an empty collection")
    for k, p in enumerate(params):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"`{where}[{k}]` must be a torch.Tensor, got {type(p).__name__}")
        if not p.requires_grad:
            raise ValueError(f"`{where}[{k}]` (shape {tuple(p.shape)}) does not require grad")
    return params


def flatten(grads: Sequence, params: Sequence):
    """Concatenate per-parameter gradients into one flat vector (zeros where a grad is None)."""
    return torch.cat(
        [(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params, strict=True)]
    )


def unflatten(vec, params: Sequence) -> list:
    """Split a flat vector back into tensors shaped like ``params``."""
    out, start = [], 0
    for p in params:
        out.append(vec[start : start + p.numel()].view_as(p))
        start += p.numel()
    if start != vec.numel():
        raise ValueError(f"`vec` has {vec.numel()} entries, the parameters hold {start}")
    return out


def jacobian(losses, params, method: str = "autograd", retain_graph: bool = False):
    """J (M, d): row m = flattened grad of ``losses[m]`` w.r.t. ``params`` (in the params' dtype)."""
    losses = as_loss_list(losses)
    params = as_param_list(params)
    if method == "autograd":
        rows = []
        for m, loss in enumerate(losses):
            keep = retain_graph or m < len(losses) - 1
            g = torch.autograd.grad(loss, params, retain_graph=keep, allow_unused=True)
            rows.append(flatten(g, params))
        return torch.stack(rows)
    if method == "batched":
        stacked = torch.stack(losses)
        eye = torch.eye(len(losses), dtype=stacked.dtype, device=stacked.device)
        g = torch.autograd.grad(
            stacked, params, grad_outputs=eye, retain_graph=retain_graph, is_grads_batched=True, allow_unused=True
        )
        m = len(losses)
        return torch.cat(
            [(gi if gi is not None else torch.zeros((m, *p.shape), dtype=p.dtype, device=p.device)).reshape(m, -1)
             for gi, p in zip(g, params, strict=True)],
            dim=1,
        )
    raise ValueError(f"`method` must be one of {GRADIENT_METHODS}, got {method!r}")


def gram64(jac):
    """Q = J J^T computed in float64 on the tensor's device, returned as a numpy (M, M) array."""
    j = jac.detach().to(torch.float64)
    return (j @ j.T).cpu().numpy()
