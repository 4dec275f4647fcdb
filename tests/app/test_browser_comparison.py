"""The paper's comparison done in a real browser, from an empty data folder: Values computes a framing of
the battery on two tiny models of two families as one job (its progress bar rising), ends with differences,
intervals and a verdict, and keeps its basis after a named-words run elsewhere; /search keeps repeated
parameters; Home, the Streamlit config and Copy link. Screenshots go to tests/artifacts/ (git-ignored)."""
from __future__ import annotations

import re
import time
from urllib.parse import urlencode

import pytest

from browser_helpers import open_page, settle, shoot, streamlit_server
from helpers import CORPUS, ROOT, make_tiny_model_dir

pytestmark = pytest.mark.browser
SCOPE = "positive"  # the 27 positive battery prompts: the whole battery is the same job with twice the units


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    """Two tiny models (llama and gemma families by name) whose vocabularies hold Big Two nouns, and an
    empty data folder."""
    from engine.analysis.lexicons import load_lexicon

    root = tmp_path_factory.mktemp("comparison")
    nouns = [" ".join(" " + w for w in load_lexicon("big_two_nouns").entries)] + CORPUS
    llama = make_tiny_model_dir(root / "tiny-llama", "llama", vocab_size=900, seed_text=nouns)
    gemma = make_tiny_model_dir(root / "tiny-gemma", "gemma3", vocab_size=800, seed=1, seed_text=nouns)
    return {"home": root / "home", "llama": str(llama), "gemma": str(gemma)}


@pytest.fixture(scope="module")
def server(models):
    with streamlit_server(models["home"], models["home"].parent / "streamlit.log") as url:
        yield url


def values_url(server: str, models: dict, **extra) -> str:
    query = urlencode([("vmodels", models["llama"]), ("vmodels", models["gemma"]), ("vscope", SCOPE),
                       ("resamples", "999"), *extra.items()])
    return f"{server}/values?{query}"


def paragraph(page, start: str) -> str:
    """The text of the first markdown paragraph that starts with `start` (its bold label included)."""
    return page.locator("[data-testid='stMarkdownContainer'] p", has_text=re.compile("^" + re.escape(start))).first.inner_text()


def test_home_says_what_the_app_is_for_and_the_config_hides_deploy(server, page):
    open_page(page, server, "valuescope")
    page.get_by_role("heading", name="A comparison in three steps").wait_for()
    page.get_by_text("What the first run costs").wait_for()
    assert page.get_by_role("link", name=re.compile("^Values:")).count() == 1
    assert page.get_by_text("Deploy", exact=True).count() == 0  # toolbarMode = minimal
    config = (ROOT / ".streamlit" / "config.toml").read_text()
    assert "gatherUsageStats = false" in config
    shoot(page, "0-home")


def test_values_computes_the_battery_and_compares_the_families(server, models, page):
    page.goto(values_url(server, models))
    page.get_by_text("0 of 54").first.wait_for()
    assert page.get_by_role("button", name="Compute missing runs").is_enabled()
    page.get_by_role("button", name="Compute missing runs").click()
    bar = page.locator("[data-testid='stProgress'] [role='progressbar']").first
    bar.wait_for()
    seen = []
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        if page.get_by_role("heading", name="Differences with confidence intervals").count():
            break
        if bar.count():
            try:
                seen.append(float(bar.get_attribute("aria-valuenow", timeout=1000)))
            except Exception:  # noqa: BLE001 - the bar goes when the job ends
                pass
        time.sleep(0.5)
    rising = [v for v in seen if v is not None]
    assert len(set(rising)) >= 3 and rising == sorted(rising), rising  # the bar moved forward, several times
    page.get_by_role("heading", name="Differences with confidence intervals").wait_for(timeout=60_000)
    settle(page)
    page.get_by_text(re.compile(r"Computed \d+ run\(s\) in \d+ s")).wait_for()
    verdict = paragraph(page, "Verdict:")
    assert "95% CI" in verdict or "every 95% interval includes 0" in verdict, verdict
    assert page.get_by_text(re.compile(r"\(95% CI -?[\d.e+-]+ to -?[\d.e+-]+")).count() >= 2  # a reading per panel
    analysed = paragraph(page, "Analysed:")
    assert "2 model(s) x 27 prompt(s)" in analysed and "vocab" in analysed
    shoot(page, "2-values-computed")

    # a named-words run on the same models elsewhere (the Base models page's kind of run) changes nothing here
    from engine.configs import SearchConfig
    from engine.workflows.implicit import run_implicit
    from engine.workflows.runner import Runner

    run_implicit(Runner(home=models["home"]), [(models["llama"], models["gemma"])], ["greatest_ever_one"],
                 words=["freedom", "love", "money", "power", "family", "success"], vocab=False,
                 templates=[("auto", "auto")], base=SearchConfig())
    page.goto(values_url(server, models))
    page.get_by_role("heading", name="Differences with confidence intervals").wait_for(timeout=60_000)
    settle(page)
    assert paragraph(page, "Analysed:") == analysed
    assert paragraph(page, "Verdict:") == verdict


def test_search_keeps_repeated_models_and_a_copy_link(server, models, page):
    query = urlencode([("models", models["llama"]), ("models", models["gemma"]), ("prompt", "greatest_ever_one")])
    open_page(page, f"{server}/search?{query}", "Token search")
    chosen = page.get_by_test_id("stMultiSelect").first.inner_text()
    assert "tiny-llama" in chosen and "tiny-gemma" in chosen, chosen
    assert page.url.count("models=") == 2, page.url
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy link").click()
    page.get_by_role("button", name="Link copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == page.url
    shoot(page, "1-token-search-two-models")


def test_the_training_form_is_in_the_address(server, page):
    open_page(page, f"{server}/training?train_cpu_demo_learning_rate=0.0007&train_cpu_demo_seed=3", "Training")
    form = page.get_by_test_id("stExpander").first
    form.get_by_label("Learning rate", exact=True).wait_for()
    assert form.get_by_label("Learning rate", exact=True).input_value() == "0.0007"
    assert form.get_by_label("Seed", exact=True).input_value() == "3"
    shoot(page, "4-training-from-a-link")
