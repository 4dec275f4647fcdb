"""Reward models with custom heads, offline on tiny local stand-ins: a model whose own code (auto_map,
trust_remote_code) returns `.score` after a gating-token lookup, as ArmoRM and the QRMs do, and a
multi-output head read as logits[:, 0], as URM's. Through valuescope their scores equal their own forward's."""
import json
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, LlamaConfig, LlamaForSequenceClassification

from engine.configs import SearchConfig
from engine.errors import InputError, UserError
from engine.models import registry
from engine.models.loading import load_model
from engine.models.registry import REWARD_MODEL, ModelSpec, resolve_spec
from engine.scoring.search import score_texts, score_vocabulary
from engine.scoring.templates import build_framing
from engine.workflows.runner import Runner
from helpers import make_tokenizer

PROMPT = "What, in one word, is the greatest thing ever?"

# The model's own code, as a hub repository ships it: the gating position is the last occurrence of the
# assistant header in the input ids (ArmoRM's find_token_for_gating), the reward the token before the first pad.
GATED_MODELING = '''
from dataclasses import dataclass

import torch
from transformers import LlamaModel, LlamaPreTrainedModel
from transformers.utils import ModelOutput


@dataclass
class GatedRewardOutput(ModelOutput):
    score: torch.FloatTensor | None = None
    rewards: torch.FloatTensor | None = None


def find_gating_token(ids, pattern):
    for j in range(len(ids) - len(pattern), -1, -1):
        if ids[j:j + len(pattern)] == pattern:
            return j
    raise ValueError("Token pattern not found in the list.")


class GatedRewardModel(LlamaPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.model = LlamaModel(config)
        self.regression_layer = torch.nn.Linear(config.hidden_size, 3, bias=False)
        self.gating = torch.nn.Linear(config.hidden_size, 3, bias=False)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        last = (torch.eq(input_ids, self.config.pad_token_id).int().argmax(-1) - 1) % input_ids.shape[-1]
        rows = torch.arange(input_ids.shape[0], device=hidden.device)
        rewards = self.regression_layer(hidden[rows, last])
        gates = [find_gating_token(ids.tolist(), list(self.config.gating_pattern)) for ids in input_ids]
        weights = torch.softmax(self.gating(hidden[rows, gates]), dim=-1)
        return GatedRewardOutput(score=(rewards * weights).sum(-1, keepdim=True), rewards=rewards)
'''


def _tokenizer():
    tokenizer = make_tokenizer()
    tokenizer.add_special_tokens({"pad_token": "<pad>"})  # a pad id that never occurs in a conversation
    return tokenizer


def _tiny_config(tokenizer, **extra) -> LlamaConfig:
    return LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                       pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, **extra)


@pytest.fixture
def gated_dir(tmp_path):
    """A folder like ArmoRM's repository: config.json with auto_map, its modeling file, weights, tokenizer."""
    folder = tmp_path / "tiny-gated-rm"
    folder.mkdir()
    (folder / "modeling_gated.py").write_text(GATED_MODELING)
    tokenizer = _tokenizer()
    header = tokenizer("<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    config = _tiny_config(tokenizer, gating_pattern=header)
    config.auto_map = {"AutoModelForSequenceClassification": "modeling_gated.GatedRewardModel"}
    sys.path.insert(0, str(folder))
    try:
        from modeling_gated import GatedRewardModel  # the class the folder's auto_map names
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("modeling_gated", None)
    torch.manual_seed(3)
    GatedRewardModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["auto_map"]
    return folder


@pytest.fixture
def gated_spec(gated_dir, monkeypatch):
    spec = ModelSpec("tiny-gated-rm", str(gated_dir), "llama", REWARD_MODEL, "reward", score_reader="score",
                     num_labels=None, needs_remote_code=True)
    monkeypatch.setitem(registry.REGISTRY, spec.alias, spec)
    return spec


def _own_scores(folder, sequences, field: str, **load) -> np.ndarray:
    """The model's own forward, one whole sequence at a time, loaded by transformers directly."""
    model = AutoModelForSequenceClassification.from_pretrained(folder, **load).eval()
    with torch.no_grad():
        return np.array([getattr(model(input_ids=torch.tensor([s])), field).reshape(-1)[0].item() for s in sequences])


def test_gated_model_needs_remote_code_to_be_asked_for(gated_spec):
    with pytest.raises(InputError, match="--trust-remote-code"):
        load_model(gated_spec, device="cpu")


def test_gated_model_scores_equal_its_own_forward(gated_dir, gated_spec):
    lm = load_model(resolve_spec("tiny-gated-rm", trust_remote_code=True), device="cpu")
    framing = build_framing(lm.tokenizer, PROMPT)
    ids = list(range(0, lm.vocab_size, 7))
    result = score_vocabulary(lm, framing, ids, batch_size=16)
    sequences = [[*framing.prefix_ids, i, *framing.closing_ids] for i in ids]
    own = _own_scores(gated_dir, sequences, "score", trust_remote_code=True)
    np.testing.assert_allclose(result["score"].to_numpy(), own, atol=1e-5)
    assert result["score"].std() > 0
    details = result.attrs["scoring"]
    assert details["path"] == "whole_sequence" and details["score_reader"] == "score"
    assert details["read_from_end"] == -1 and details["read_token_id"] == framing.closing_ids[-1]
    # why the shared prefix cannot serve it: the reply and closing alone hold no assistant header
    with pytest.raises(ValueError, match="pattern not found"):
        lm.model(input_ids=torch.tensor([[ids[0], *framing.closing_ids]]))
    words = score_texts(lm, framing, ["love", "freedom of mind"], batch_size=2)
    np.testing.assert_allclose(words["score"].to_numpy(), _own_scores(
        gated_dir, [[*framing.prefix_ids, *framing.reply_ids(lm.tokenizer, w)] for w in ("love", "freedom of mind")],
        "score", trust_remote_code=True), atol=1e-5)


def test_gated_model_run_records_its_path(gated_spec):
    result = Runner().run(SearchConfig(model="tiny-gated-rm", trust_remote_code=True, device="cpu"), PROMPT,
                          words=["love", "power", "care"])
    scoring = json.loads(result.run["params"])["scoring"]
    assert scoring["path"] == "whole_sequence" and scoring["method"] == "by_id"
    assert scoring["n_bos"] == 1 and scoring["attention"] and scoring["transformers"]
    assert scoring["n_tied_scores"] == 0


@pytest.fixture
def multi_head_dir(tmp_path):
    """A standard sequence-classification checkpoint whose head has three outputs (URM's shape)."""
    folder = tmp_path / "tiny-multi-head-rm"
    tokenizer = _tokenizer()
    torch.manual_seed(5)
    LlamaForSequenceClassification(_tiny_config(tokenizer, num_labels=3)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_multi_output_head_is_read_as_logits0(multi_head_dir, monkeypatch):
    spec = ModelSpec("tiny-multi-head-rm", str(multi_head_dir), "llama", REWARD_MODEL, "reward", num_labels=None)
    monkeypatch.setitem(registry.REGISTRY, spec.alias, spec)
    lm = load_model(spec, device="cpu")
    assert lm.model.config.num_labels == 3 and lm.head_status == "trained"
    framing = build_framing(lm.tokenizer, PROMPT)
    ids = list(range(0, lm.vocab_size, 5))
    result = score_vocabulary(lm, framing, ids, batch_size=32)
    assert result.attrs["scoring"]["path"] == "shared_prefix"  # the head applies to the last hidden state
    own = _own_scores(multi_head_dir, [[*framing.prefix_ids, i, *framing.closing_ids] for i in ids], "logits")
    np.testing.assert_allclose(result["score"].to_numpy(), own, atol=1e-5)
    # forcing a one-label head onto it does not load it: a clear message, not a silently random head
    with pytest.raises(UserError):
        load_model(replace(spec, num_labels=1), device="cpu")
