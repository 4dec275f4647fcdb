"""The 54-prompt battery of Christian et al.: 6 adjectives x 3 superlatives x 3 question styles."""
from __future__ import annotations

from dataclasses import dataclass
from engine.errors import InputError

# key fragment -> (adjective phrase, framing)
ADJECTIVES = {
    "best": ("best", "positive"),
    "greatest": ("greatest", "positive"),
    "good": ("most good", "positive"),
    "worst": ("worst", "negative"),
    "bad": ("most bad", "negative"),
    "terrible": ("most terrible", "negative"),
}
SUPERLATIVES = {
    "ever": "thing ever",
    "world": "thing in the world",
    "time": "thing of all time",
}
STYLES = {
    "one": "What, in one word, is the {x}?",
    "single": "What, in a single word, is the {x}?",
    "please": "What is the {x}? Please answer in one word only.",
}
FRAMINGS = ("positive", "negative")


@dataclass(frozen=True)
class BatteryPrompt:
    key: str  # e.g. "greatest_ever_one"
    text: str  # e.g. "What, in one word, is the greatest thing ever?"
    adjective: str  # key fragment, e.g. "greatest"
    superlative: str  # "ever" | "world" | "time"
    style: str  # "one" | "single" | "please"
    framing: str  # "positive" | "negative"


def battery() -> list[BatteryPrompt]:
    prompts = []
    for adj_key, (adj_text, framing) in ADJECTIVES.items():
        for sup_key, sup_text in SUPERLATIVES.items():
            for style_key, template in STYLES.items():
                prompts.append(
                    BatteryPrompt(
                        key=f"{adj_key}_{sup_key}_{style_key}",
                        text=template.format(x=f"{adj_text} {sup_text}"),
                        adjective=adj_key,
                        superlative=sup_key,
                        style=style_key,
                        framing=framing,
                    )
                )
    return prompts


BATTERY = {p.key: p for p in battery()}
BATTERY_BY_TEXT = {p.text: p for p in BATTERY.values()}


def framing_of(prompt_key: str | None) -> str | None:
    """Framing of a battery key ("positive"/"negative"), or None for a prompt outside the battery."""
    p = BATTERY.get(prompt_key or "")
    return p.framing if p else None


def resolve_prompt(text_or_key: str) -> tuple[str | None, str]:
    """Accept a battery key or free text; return (battery key or None, prompt text)."""
    value = (text_or_key or "").strip()
    if "\x00" in value:  # a NUL cannot be typed; it only arrives by URL or file, and tokenizers mangle it
        raise InputError("The prompt contains a NUL character (\\x00): remove it.")
    if not value:
        raise InputError("The prompt is empty: type a question, or give a battery key such as 'greatest_ever_one'.")
    if value in BATTERY:
        return value, BATTERY[value].text
    p = BATTERY_BY_TEXT.get(value)
    return (p.key if p else None), value
