"""Shared fixtures for the RLHF tests: the shipped tiny model (cached once per machine)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_base():
    import torch

    torch.set_num_threads(1)
    from backends.rlhf.policy import load_base

    return load_base("tiny")


@pytest.fixture
def tiny_policy(tiny_base):
    from backends.rlhf.policy import attach_lora

    base, tok = tiny_base
    model = attach_lora(base, seed=0)
    yield model, tok
    model.unload()  # strip the adapter so the session base model is reusable
