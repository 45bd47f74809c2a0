"""Where and in which precision the LLM runs: ``--device auto|cpu|cuda|cuda:N``, ``--dtype float32|bfloat16|float16``.

The base model is loaded in ``dtype`` and moved to the device; the LoRA adapter's own tensors stay in
float32 (PEFT casts adapters of a half-precision base up), sampling and losses run on the same device
(log-probabilities in float32), and the Gram matrix and lambda are always float64.

The engine's parameter vector x (the flattened adapter) is float64 numpy on the host; the task converts
it to the adapter's dtype and device when it loads a point, and back when a client uploads.
"""

from __future__ import annotations

import re

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
DTYPES = ("float32", "bfloat16", "float16")

_CUDA_INDEX = re.compile(r"^cuda:(\d+)$")


def _torch():
    import torch

    return torch


def check_device_spec(spec) -> str:
    """Validate the spelling of a device option without touching the hardware; returns it normalized."""
    if not isinstance(spec, str):
        raise TypeError(f"`device` must be a string such as 'auto', 'cpu', 'cuda' or 'cuda:0', got {type(spec).__name__}")
    s = spec.strip().lower()
    if s in ("auto", "cpu", "cuda") or _CUDA_INDEX.match(s):
        return s
    raise ValueError(f"`device` must be one of auto, cpu, cuda, cuda:N (N a GPU index), got {spec!r}")


def resolve_device(spec: str = "auto"):
    """A ``torch.device``: "auto" is the first CUDA GPU when one is visible, else the CPU. Asking for
    CUDA without a GPU, or for a GPU index that does not exist, is a ValueError naming the option."""
    torch = _torch()
    s = check_device_spec(spec)
    available = torch.cuda.is_available()
    if s == "auto":
        return torch.device("cuda:0" if available else "cpu")
    if s == "cpu":
        return torch.device("cpu")
    if not available:
        raise ValueError(f"`device` {spec!r} needs a CUDA GPU, but torch sees none "
                         f"(torch {torch.__version__}, CUDA build: {torch.version.cuda is not None}); use --device cpu")
    index = 0 if s == "cuda" else int(_CUDA_INDEX.match(s).group(1))
    count = torch.cuda.device_count()
    if index >= count:
        raise ValueError(f"`device` {spec!r}: there are {count} CUDA device(s), indices 0..{count - 1}")
    return torch.device(f"cuda:{index}")


def check_dtype_name(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"`dtype` must be a string, one of {DTYPES}, got {type(name).__name__}")
    if name not in DTYPES:
        raise ValueError(f"`dtype` must be one of {DTYPES}, got {name!r}")
    return name


def resolve_dtype(name: str = "float32", device=None):
    """The ``torch.dtype`` of the base model. float16 is refused on the CPU (half-precision matmuls
    there are slow or missing; use bfloat16)."""
    torch = _torch()
    check_dtype_name(name)
    if name == "float16" and device is not None and torch.device(device).type == "cpu":
        raise ValueError("`dtype` 'float16' needs a CUDA device; on the CPU use 'bfloat16' or 'float32'")
    return getattr(torch, name)


def describe_device(device) -> str:
    """"cpu (N threads)" or "cuda:0 (GPU name)"."""
    torch = _torch()
    device = torch.device(device)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} thread(s))"
