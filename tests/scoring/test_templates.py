"""Prompt/reply framing per model family, and inserting vocabulary tokens by id."""
import pytest

from helpers import make_tokenizer
from engine.scoring.search import decode_tokens, vocab_suffixes
from engine.scoring.templates import build_framing, render

LLAMA3 = (
    "{{ '<|im_start|>' }}{% for m in messages %}{{ '<|im_end|>' + m['role'] + '\n\n' + m['content'] | trim + '<|im_end|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_end|>assistant\n\n' }}{% endif %}"
)
PROMPT = "What, in one word, is the greatest thing ever?"


@pytest.mark.parametrize("template_name, chat_template", [("chat", None), ("chat", LLAMA3), ("gemma_turns", None),
                                                          ("plain", None)])
def test_prefix_reply_closing_reassemble_the_rendered_text(template_name, chat_template):
    kwargs = {"chat_template": chat_template} if chat_template else {}
    tok = make_tokenizer(**kwargs)
    framing = build_framing(tok, PROMPT, template_name)
    for reply in ["love", "freedom", "peace of mind"]:
        reply_ids = framing.reply_ids(tok, reply)
        whole = list(framing.prefix_ids) + reply_ids
        expected = tok(render(tok, template_name, PROMPT, reply), add_special_tokens=template_name == "plain")["input_ids"]
        if template_name == "plain":
            expected = tok(f"{PROMPT}\n{reply}", add_special_tokens=True)["input_ids"]
        assert whole == expected
        assert tok.decode(reply_ids[: len(reply_ids) - len(framing.closing_ids)]) == reply


def test_chatml_closing_is_end_of_turn_then_newline():
    tok = make_tokenizer()
    framing = build_framing(tok, PROMPT, "auto")
    assert framing.template == "chat"
    assert tok.convert_ids_to_tokens(list(framing.closing_ids)) == ["<|im_end|>", "Ċ"]
    assert framing.prefix_text.endswith("<|im_start|>assistant\n")


def test_gemma_turns_starts_with_bos_and_closes_the_turn():
    framing = build_framing(make_tokenizer(), PROMPT, "gemma_turns")
    assert framing.prefix_text.startswith("<bos><start_of_turn>user\n" + PROMPT + "<end_of_turn>\n<start_of_turn>model\n")
    assert framing.closing_text == "<end_of_turn>\n"


def test_auto_falls_back_to_plain_without_chat_template_and_chat_is_refused():
    tok = make_tokenizer(chat_template=None)
    assert build_framing(tok, PROMPT).template == "plain"
    with pytest.raises(ValueError, match="no chat template"):
        build_framing(tok, PROMPT, "chat")


def test_empty_prompt_is_refused():
    with pytest.raises(ValueError, match="empty"):
        build_framing(make_tokenizer(), "   ")


def test_vocabulary_candidates_keep_the_token_id_even_when_text_would_not_round_trip():
    tok = make_tokenizer()
    framing = build_framing(tok, PROMPT)
    ids = list(range(len(tok)))
    texts = decode_tokens(tok, ids)
    not_round_trip = [i for i, t in zip(ids, texts) if tok(t, add_special_tokens=False)["input_ids"] != [i]]
    assert not_round_trip, "the tiny vocabulary should contain tokens that re-tokenise differently"
    for token_id, suffix in zip(ids, vocab_suffixes(framing, ids)):
        assert suffix == [token_id, *framing.closing_ids]


def test_raw_is_the_tokenizers_own_encoding_of_the_prompt_with_the_reply_straight_after():
    """The paper's pretrained framing: tokenizer(prompt) (BOS + the prompt, nothing after it), and the
    reply as the prompt's continuation; plain differs by the newline between them."""
    tok = make_tokenizer()
    raw, plain = build_framing(tok, PROMPT, "raw"), build_framing(tok, PROMPT, "plain")
    assert list(raw.prefix_ids) == tok(PROMPT)["input_ids"] and raw.closing_ids == ()
    assert raw.prefix_ids != plain.prefix_ids and raw.prefix_text == PROMPT
    assert list(raw.prefix_ids) + raw.reply_ids(tok, " love") == tok(PROMPT + " love")["input_ids"]
