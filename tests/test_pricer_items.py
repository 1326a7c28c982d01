"""Curation as the course's Item: scrubbing, the token cut, the two prompts, and what gets rejected."""

from __future__ import annotations

import pytest

from lab.core.errors import InputError
from lab.pricer.items import PREFIX, QUESTION, Curation, get_tokenizer, make_item, scrub

CL100K = Curation(tokenizer="cl100k_base", min_chars=10)


def test_scrub_drops_part_numbers_and_punctuation_noise():
    assert scrub('Model: "ABC12345X" 4K TV, 55 inch') == "Model 4K TV, 55 inch"
    # 7+ characters with a digit = part number; shorter words with digits (30h, 4K, RTX) stay
    assert scrub("Sony WH-1000XM5 30h battery [black]") == "Sony 30h battery black"
    assert scrub("Intel Core i7-13700HX, 16GB") == "Intel Core 16GB"
    assert scrub('{"Batteries Included?": "No"} Item Weight 3 lb') == "Weight 3 lb"  # course's boilerplate list
    assert scrub("Apple®  iPad™ , ,, Wi-Fi") == "Apple iPad, Wi-Fi"


def test_hand_worked_item_and_its_prompts():
    item = make_item(
        "Sony WH-1000XM5 Headphones", "Model: WH1000XM5/B  Noise cancelling, 30h battery", 348.0, "Headphones", CL100K
    )
    assert item.text == "Sony Headphones\nModel Noise cancelling, 30h battery"
    assert item.prompt == f"{QUESTION}\n\nSony Headphones\nModel Noise cancelling, 30h battery\n\nPrice is $348.00"
    assert item.test_prompt() == item.prompt.removesuffix("348.00")
    assert item.test_prompt().endswith(PREFIX)
    assert item.completion == "348.00" and item.category == "Headphones"
    assert item.tokens == len(get_tokenizer("cl100k_base").encode(item.text))


@pytest.mark.parametrize("price, completion", [(799.99, "800.00"), (14.49, "14.00"), (129.0, "129.00")])
def test_price_to_the_nearest_dollar(price, completion):
    assert make_item("A product", "with a long enough description", price, "", CL100K).completion == completion


def test_cut_to_max_tokens_then_decoded_back():
    tok = get_tokenizer("cl100k_base")
    desc = "Ultra bright panel with deep contrast and vivid colour for movies games and sport " * 10
    item = make_item("Big TV", desc, 500, "TVs", Curation(tokenizer="cl100k_base", max_tokens=12))
    full = tok.encode(f"Big TV\n{desc.strip()}")
    assert item.tokens == 12
    assert item.text == tok.decode(full[:12]).strip()
    assert len(tok.encode(item.text)) <= 12
    short = make_item(
        "Big TV", "Bright panel", 500, "TVs", Curation(tokenizer="cl100k_base", max_tokens=12, min_chars=5)
    )
    assert short.text == "Big TV\nBright panel"  # under the budget: untouched


@pytest.mark.slow  # SmolLM2's tokenizer through transformers
def test_smollm2_tokenizer_counts_digits_one_by_one():
    tok = get_tokenizer("smollm2")
    assert tok.decode(tok.encode("Price is $1499.00")) == "Price is $1499.00"
    assert len(tok.encode("1499")) == 4  # the Tokenization lab's lesson: SmolLM2 spends a token per digit


@pytest.mark.parametrize(
    "title, desc, price, reason",
    [
        ("Speaker", "", 50.0, "empty description"),
        ("Speaker", '  "" [] : ', 50.0, "empty description"),  # nothing left after scrubbing
        ("", "A fine speaker", 50.0, "empty title"),
        ("Speaker", "A fine speaker", None, "price does not parse"),
        ("Speaker", "A fine speaker", float("nan"), "price does not parse"),
        ("Speaker", "A fine speaker", 0.5, "outside"),
        ("Speaker", "A fine speaker", 1500.0, "outside"),
        ("Spk", "Loud", 50.0, "fewer than 40 characters"),
    ],
)
def test_rejections_name_their_reason(title, desc, price, reason):
    with pytest.raises(InputError, match=reason):
        make_item(title, desc, price, "", Curation(tokenizer="cl100k_base"))


def test_unknown_tokenizer_is_refused():
    with pytest.raises(InputError, match="Unknown tokenizer"):
        get_tokenizer("gpt-2")
