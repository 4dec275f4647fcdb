"""Each page's "Download report" button in the running app (the server, data and browser of
test_browser.py): the file it hands over renders offline, every chart and table, with the page's numbers."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import pytest

from helpers import DEMO_MODELS, ROOT
from report_helpers import check_rendered, open_offline
from browser_helpers import open_page
from test_browser import PROMPT, data, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
SHOTS = ROOT / "tests" / "artifacts" / "reports"


def download_report(tab, folder: Path) -> Path:
    """Click the page's Download report button and save the file (built on the click: allow a busy machine time)."""
    with tab.expect_download(timeout=180_000) as info:
        tab.get_by_role("button", name="Download report").first.click()
    name = info.value.suggested_filename
    assert name.startswith("valuescope_report_") and name.endswith(".html"), name
    path = folder / name
    info.value.save_as(path)
    return path


def test_values_page_report(server, page, browser, tmp_path):  # noqa: F811
    page.set_default_timeout(120_000)  # the analysis runs when the page opens (999 resamples per panel)
    models = "&".join(f"vmodels={name}" for name, *_ in DEMO_MODELS)
    open_page(page, f"{server}/values?{models}&basis=words&resamples=999", "Median rank by category")
    page.get_by_role("heading", name="Family comparison").wait_for()
    report, attempted, errors = open_offline(browser, download_report(page, tmp_path))
    seen = check_rendered(report, attempted, errors, SHOTS / "app-values-report.png")
    assert len(seen["charts"]) == 3
    shown = report.eval_on_selector_all("section.table[data-name='family-summary'] tbody tr", "rs => rs.length")
    assert shown == 4  # two framings x two Big Two categories
    report.context.close()


def test_token_search_page_report(server, data, page, browser, tmp_path):  # noqa: F811
    query = urlencode({"models": str(data["tiny"]), "prompt": PROMPT, "mode": "logprob", "words": "the, love"})
    open_page(page, f"{server}/search?{query}", "Token search")
    page.get_by_text("Top 10").first.wait_for()
    report, attempted, errors = open_offline(browser, download_report(page, tmp_path))
    seen = check_rendered(report, attempted, errors, SHOTS / "app-search-report.png")
    assert {c["name"].split("-")[0] for c in seen["charts"]} == {"histogram", "word"}
    ranks = report.eval_on_selector_all("section.table[data-name^='top-'] tbody td:first-child", "cs => cs.map(c => c.textContent)")
    assert ranks == [str(i) for i in range(1, 11)]
    assert data["search"].run["run_id"] in report.content()
    report.context.close()


def test_base_models_page_report(server, data, page, browser, tmp_path):  # noqa: F811
    query = urlencode({"model_a": str(data["tiny"]), "model_b": str(data["other"]), "bprompt": PROMPT})
    open_page(page, f"{server}/base-models?{query}", "Top and bottom words by MWLR")
    page.get_by_role("heading", name="Named words").wait_for()
    report, attempted, errors = open_offline(browser, download_report(page, tmp_path))
    seen = check_rendered(report, attempted, errors, SHOTS / "app-implicit-report.png")
    assert {re.sub(r"-.*", "", c["name"]) for c in seen["charts"]} == {"named", "categories"}
    report.context.close()


def test_training_page_report(server, data, page, browser, tmp_path):  # noqa: F811
    from engine.cli import main
    from engine.training.config import preset_config
    from engine.training.trainer import train_comparison

    pairs = tmp_path / "prefs.jsonl"
    pairs.write_text("\n".join(f'{{"prompt": "What is best?", "chosen": "{g}", "rejected": "{b}"}}'
                               for g, b in zip(["Love.", "Kindness.", "Peace."] * 6, ["War.", "Hate.", "Harm."] * 6)))
    config = preset_config("cpu-demo", bases=[str(data["tiny"])], data=str(pairs), pairs=[0], eval_pairs=6, num_train_epochs=1,
                           learning_rate=3e-3, lora_r=4, lora_alpha=8, max_length=48, prompts=["greatest_ever_one"],
                           out=str(data["home"] / "trained" / "report-demo"))
    trained = train_comparison(config, home=data["home"])
    assert main(["--home", str(data["home"]), "trajectory", str(trained.run_dir)]) == 0
    open_page(page, f"{server}/training?train_run={trained.run_dir.name}", "Training")
    page.get_by_role("button", name="Download report").wait_for(timeout=60_000)
    report, attempted, errors = open_offline(browser, download_report(page, tmp_path))
    seen = check_rendered(report, attempted, errors, SHOTS / "app-training-report.png")
    assert [c["name"] for c in seen["charts"]] == ["trajectory", "held-out-accuracy", "training-loss"]
    report.context.close()
