"""`--method authors` on a tiny Llama-3-like stand-in (a template that writes its BOS and trims the reply, a
tokenizer that adds a BOS): equal to decode + template + re-tokenise done by hand, as the authors' scorer did."""
import json

import numpy as np
import pytest
import torch
from tokenizers import processors
from transformers import AutoModelForSequenceClassification, AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

from engine.configs import SearchConfig
from engine.errors import InputError
from engine.models.loading import load_model
from engine.models.registry import resolve_spec
from engine.scoring.search import score_texts, score_vocabulary
from engine.scoring.templates import build_framing
from engine.workflows.runner import Runner
from helpers import make_tokenizer

PROMPT = "What, in one word, is the greatest thing ever?"
# Like Llama 3's: the template writes the BOS and trims each message
TRIMMING_TEMPLATE = ("{{ bos_token }}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
                     "message['content'] | trim + '<|im_end|>\n' }}{% endfor %}")


@pytest.fixture(scope="module")
def llama_like_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama-like-rm")
    tokenizer = make_tokenizer(chat_template=TRIMMING_TEMPLATE)
    tokenizer.add_special_tokens({"bos_token": "<bos>", "pad_token": "<pad>"})
    bos = tokenizer.bos_token_id
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", bos)])
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, num_labels=1,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=bos, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(11)
    LlamaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def lm(llama_like_dir):
    return load_model(resolve_spec(str(llama_like_dir)), mode="reward", device="cpu")


def _by_hand(folder, replies) -> tuple[np.ndarray, list[list[int]]]:
    """The authors' scorer, written out: chat template to text, tokenizer defaults, one padded batch."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": PROMPT},
                                            {"role": "assistant", "content": r}], tokenize=False) for r in replies]
    inputs = tokenizer(texts, return_tensors="pt", padding=True, truncation=True)
    with torch.no_grad():
        scores = model(**inputs).logits.squeeze(-1).numpy()
    return scores, [tokenizer(t)["input_ids"] for t in texts]


def test_authors_vocabulary_equals_decode_template_retokenise(lm, llama_like_dir):
    framing = build_framing(lm.tokenizer, PROMPT)
    ids = list(range(lm.vocab_size))
    ours = score_vocabulary(lm, framing, ids, batch_size=32, method="authors")
    decoded = [lm.tokenizer.decode([i]) for i in ids]
    expected, sequences = _by_hand(llama_like_dir, decoded)
    np.testing.assert_allclose(ours["score"].to_numpy(), expected, atol=1e-5)
    details = ours.attrs["scoring"]
    assert details["method"] == "authors" and details["path"] == "whole_sequence"
    assert details["n_bos"] == 2 and sequences[0][:2] == [lm.tokenizer.bos_token_id] * 2
    assert details["read_from_end"] == -1 and details["read_token_id"] == sequences[0][-1]
    # the template trims: " love"-like tokens are scored as their trimmed text, so they differ from by_id
    spaced = [i for i, text in zip(ids, decoded) if text.startswith(" ") and text.strip()]
    assert spaced
    by_id = score_vocabulary(lm, framing, spaced, batch_size=32)
    authors = ours.set_index("token_id").loc[spaced, "score"].to_numpy()
    assert not np.allclose(by_id["score"].to_numpy(), authors, atol=1e-4)
    assert by_id.attrs["scoring"]["n_bos"] == 1


def test_authors_words_equal_by_hand(lm, llama_like_dir):
    framing = build_framing(lm.tokenizer, PROMPT)
    words = ["love", " freedom", "peace of mind"]
    ours = score_texts(lm, framing, words, method="authors")
    np.testing.assert_allclose(ours["score"].to_numpy(), _by_hand(llama_like_dir, words)[0], atol=1e-5)


def test_authors_method_recorded_and_keyed_apart(llama_like_dir):
    runner = Runner()
    words = ["love", "power"]
    by_id = runner.run(SearchConfig(model=str(llama_like_dir), mode="reward", device="cpu"), PROMPT, words=words)
    authors = runner.run(SearchConfig(model=str(llama_like_dir), mode="reward", device="cpu", method="authors"),
                         PROMPT, words=words)
    assert by_id.run["request_key"] != authors.run["request_key"]
    recorded = json.loads(authors.run["params"])
    assert recorded["method"] == "authors" and recorded["scoring"]["n_bos"] == 2
    from engine.reports.tables import rankings_of_runs, run_metadata

    assert run_metadata(authors.run)["scoring"]["method"] == "authors"
    assert run_metadata(by_id.run)["scoring"]["path"] == "shared_prefix"
    together = rankings_of_runs([(by_id.run, by_id.scores), (authors.run, authors.scores)])[1]["scoring"]
    assert {run_id: s["method"] for run_id, s in together.items()} == {by_id.run["run_id"]: "by_id",
                                                                       authors.run["run_id"]: "authors"}


def test_authors_method_refuses_log_probabilities(llama_like_dir):
    with pytest.raises(InputError, match="reward"):
        Runner().run(SearchConfig(model=str(llama_like_dir), mode="logprob", method="authors"), PROMPT, words=["a"])


def test_authors_method_reads_where_the_models_own_pooling_reads(tmp_path):
    """Pad id = end-of-turn id and a turn that ends on it (SmolLM2-like): the model's own pooling reads the
    token before it, and the run says so."""
    from helpers import make_tiny_model_dir

    template = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
                "'<|im_end|>' }}{% if not loop.last %}{{ '\n' }}{% endif %}{% endfor %}")
    folder = make_tiny_model_dir(tmp_path / "m", chat_template=template)
    lm = load_model(resolve_spec(str(folder), kind="reward_model"), mode="reward", device="cpu")
    framing = build_framing(lm.tokenizer, PROMPT)
    words = ["love", "power"]
    ours = score_texts(lm, framing, words, method="authors")
    details = ours.attrs["scoring"]
    assert details["read_from_end"] == -2 and details["n_read_before_last_token"] == len(words)
    with torch.no_grad():
        for word, score in zip(words, ours["score"]):
            text = lm.tokenizer.apply_chat_template([{"role": "user", "content": PROMPT},
                                                     {"role": "assistant", "content": word}], tokenize=False)
            ids = torch.tensor([lm.tokenizer(text)["input_ids"]])
            hidden = lm.backbone(input_ids=ids).last_hidden_state
            assert score == pytest.approx(lm.head(hidden[:, -2])[0, 0].item(), abs=1e-5)
    assert score_texts(lm, framing, words).attrs["scoring"]["read_from_end"] == -1  # by_id reads the last token
