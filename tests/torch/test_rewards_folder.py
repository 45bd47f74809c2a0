"""Reward-model folders: what is refused (no config, remote code, pickle weights) and what loads."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from backends.rlhf.rewards import SequenceClassifierReward, check_reward_folder, parse_reward_specs  # noqa: E402
from tests.torch.rlhf_fixtures import tiny_base  # noqa: E402, F401

pytestmark = pytest.mark.torch

#: batched (padded) and one-by-one classifier scores agree to float32 round-off
BATCH_ATOL = 1e-5


@pytest.fixture
def reward_folder(tmp_path, tiny_base):
    """A tiny GPT-2 sequence classifier saved with safetensors, and its tokenizer."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    _, tok = tiny_base
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=1, n_head=2, num_labels=1,
                     pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id)
    model = GPT2ForSequenceClassification(cfg).eval()
    folder = tmp_path / "rm"
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder, model, tok


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_a_safetensors_folder_loads_and_scores_like_the_model(reward_folder):
    folder, model, tok = reward_folder
    assert check_reward_folder(folder) == folder
    [reward] = parse_reward_specs([str(folder)])
    assert isinstance(reward, SequenceClassifierReward) and reward.name == "reward_model:rm"
    prompts, comps = ["The value", "A class"], [" is good.", " creates a new object and more"]
    with torch.no_grad():
        want = [float(model(**tok(p + c, return_tensors="pt")).logits[0, 0])
                for p, c in zip(prompts, comps, strict=True)]
    np.testing.assert_allclose(reward(prompts, comps), want, rtol=0, atol=BATCH_ATOL)


def test_no_config_is_refused(reward_folder):
    folder, *_ = reward_folder
    (folder / "config.json").unlink()
    with pytest.raises(ValueError, match=r"--reward '.*rm': the folder has no config.json.*refusing it"):
        parse_reward_specs([str(folder)])


@pytest.mark.parametrize("file", ["config.json", "tokenizer_config.json"])
def test_remote_code_is_refused(reward_folder, file):
    folder, *_ = reward_folder
    _edit_json(folder / file, auto_map={"AutoModelForSequenceClassification": "modeling_x.MyModel"})
    with pytest.raises(ValueError, match=f"{file} has `auto_map`.*remote code"):
        parse_reward_specs([str(folder)])


@pytest.mark.parametrize("name", ["pytorch_model.bin", "weights.pt", "model.ckpt", "head.pkl"])
def test_pickle_files_are_refused_even_next_to_safetensors(reward_folder, name):
    folder, model, _ = reward_folder
    torch.save(model.state_dict(), folder / name)
    with pytest.raises(ValueError, match=rf"refusing pickle-format files \['{name}'\].*safe_serialization=True"):
        parse_reward_specs([str(folder)])


def test_no_safetensors_and_broken_config_are_refused(reward_folder):
    folder, *_ = reward_folder
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        check_reward_folder(folder)
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="config.json must hold a JSON object, got list"):
        check_reward_folder(folder)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"no \*.safetensors weights"):
        check_reward_folder(folder)
