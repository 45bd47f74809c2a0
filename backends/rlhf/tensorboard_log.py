"""TensorBoard scalars of a `firm rlhf` run (optional: ``pip install 'firm[tensorboard]'``).

One event file under ``OUT/tensorboard``, written after the run from the same per-round rows as
rounds.csv: ``train/reward_<name>``, ``train/kl``, ``train/kl_coef``, ``eval/reward_<name>``,
``eval/kl`` (evaluated rounds only), ``federated/d_lambda``, ``federated/d_x``, ``lambda/<name>``.
Open it with ``tensorboard --logdir OUT/tensorboard``.
"""

from __future__ import annotations

import math
from pathlib import Path

EXTRA = "tensorboard"
LOG_CHOICES = ("json", "tensorboard")


def require_tensorboard():
    """torch's SummaryWriter, or ImportError naming the extra that provides it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ImportError(f"--log tensorboard needs the tensorboard package: pip install 'firm[{EXTRA}]' "
                          "(tensorboard==2.21.0)") from None
    return SummaryWriter


def round_scalars(row: dict, names: list[str]) -> dict[str, float]:
    """The finite scalars of one round row, keyed by their TensorBoard tag."""
    rec = row["record"]
    tags = {"train/kl": row.get("train_kl"), "train/kl_coef": row.get("kl_coef"), "eval/kl": row.get("kl"),
            "federated/d_lambda": rec.d_lambda, "federated/d_x": rec.d_x}
    for k, n in enumerate(names):
        tags[f"train/reward_{n}"] = row.get(f"train_reward_{n}")
        tags[f"eval/reward_{n}"] = row.get(f"reward_{n}")
        tags[f"lambda/{n}"] = rec.lambda_mean[k] if len(rec.lambda_mean) > k else None
    return {t: float(v) for t, v in tags.items() if v is not None and math.isfinite(float(v))}


def write_tensorboard(log_dir: Path, rows: list[dict], names: list[str]) -> Path:
    """Write every round's scalars (step = round) into ``log_dir``; returns it."""
    writer = require_tensorboard()(log_dir=str(log_dir))
    try:
        for row in rows:
            for tag, value in round_scalars(row, names).items():
                writer.add_scalar(tag, value, global_step=int(row["round"]))
    finally:
        writer.close()
    return Path(log_dir)
