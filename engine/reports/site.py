"""A static website of results: an index and one page per figure, with each figure's data as Parquet
beside it, ready to push as a static Hugging Face Space (no server, free hosting).

Layout of the folder:
    index.html                 links to every page, with the provenance of the whole site
    <page>.html                one figure (or table) per page; charts are interactive, tables sortable
    data/<page>/<name>.parquet the data of each chart and table (its provenance in the Parquet metadata)
    vega-bundle.js             Vega, Vega-Lite and vega-embed, shared by every page (no network needed)
    README.md                  the Space's front matter (`sdk: static`, `app_file: index.html`)

Pages come from reports (engine/reports/contents.py): each `Heading` of a report starts a page, so a
family comparison gives pages for the median ranks (Fig 1), words by category, the family tests, the
agreement between models and the top/bottom words; a training run gives its trajectories (Fig 4a) and
its movers (Fig 5).
"""
from __future__ import annotations

import html
import json
import re
from datetime import datetime, timezone
from pathlib import Path

from engine import __version__
from engine.reports.export import _write_atomically, jsonable, write_table
from engine.reports.html import Chart, Heading, Report, Table, Text, vega_bundle, write_report

BUNDLE_FILE = "vega-bundle.js"
SPACE_README = """---
title: {title}
emoji: 📊
colorFrom: blue
colorTo: green
sdk: static
app_file: index.html
pinned: false
---

# {title}

Static pages made by valuescope {version} on {created}: every chart is interactive, every table sortable,
and the data of each is in `data/<page>/*.parquet` (its provenance in the Parquet metadata under the key
`valuescope`). Nothing here runs a model; the live valuescope Space does that.
"""


def split_pages(report: Report) -> list[Report]:
    """One page per `Heading` of the report (blocks before the first heading go on the first page)."""
    pages: list[Report] = []
    for block in report.blocks:
        if isinstance(block, Heading) or not pages:
            title = block.text if isinstance(block, Heading) else report.title
            pages.append(Report(title=title, kind=report.kind, provenance=report.provenance,
                                subtitle=f"{report.title}. {report.subtitle}"))
            if isinstance(block, Heading):
                continue
        pages[-1].blocks.append(block)
    return [page for page in pages if any(isinstance(b, (Chart, Table)) for b in page.blocks)]


def page_slug(title: str, taken: set[str]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "page"
    unique, n = slug, 2
    while unique in taken:
        unique, n = f"{slug}-{n}", n + 1
    taken.add(unique)
    return unique


def write_site(reports: list[Report], out: str | Path, title: str = "valuescope results") -> list[Path]:
    """Write the site for `reports` into folder `out`; returns the pages written (index first)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_atomically(out / BUNDLE_FILE, vega_bundle().encode("utf-8"))
    taken: set[str] = {"index"}
    entries, written = [], []
    for report in reports:
        for page in split_pages(report):
            slug = page_slug(page.title, taken)
            data_files, seen = [], set()
            for block in page.blocks:
                if isinstance(block, (Chart, Table)):
                    table = block.data if isinstance(block, Chart) else block.table
                    if id(table) in seen:  # a chart and a table of the same data: one file
                        continue
                    seen.add(id(table))
                    path = write_table(table, out / "data" / slug / f"{block.name}.parquet",
                                       {"table": f"{block.title} ({page.title})", **page.provenance})
                    data_files.append(path.relative_to(out).as_posix())
            page.blocks.append(Text("Data of this page as Parquet: " + ", ".join(data_files)))
            nav = f'<nav><a href="index.html">← all pages</a> <span class="note">{html.escape(title)}</span></nav>'
            written.append(write_report(page, out / f"{slug}.html", site_nav=nav, bundle_file=BUNDLE_FILE))
            entries.append((report, page, slug, data_files))
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    index = out / "index.html"
    _write_atomically(index, _index_html(title, reports, entries, created).encode("utf-8"))
    _write_atomically(out / "README.md", SPACE_README.format(title=title, version=__version__, created=created).encode())
    return [index, *written]


def _index_html(title: str, reports: list[Report], entries, created: str) -> str:
    items, current = [], None
    for report, page, slug, data_files in entries:
        if report is not current:
            if current is not None:
                items.append("</ul>")
            items.append(f"<h2>{html.escape(report.title)}</h2><p class='note'>{html.escape(report.subtitle)}</p><ul>")
            current = report
        items.append(f'<li><a class="page" href="{slug}.html">{html.escape(page.title)}</a> '
                     f'<span class="note">({len(data_files)} Parquet file{"s" if len(data_files) != 1 else ""})</span></li>')
    if current is not None:
        items.append("</ul>")
    provenance = json.dumps(jsonable([{"report": r.title, **r.provenance} for r in reports]),
                            indent=2, ensure_ascii=False)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:1000px;margin:auto;padding:1.5em}}'
            f'.note{{color:#555;font-size:13px}}pre{{background:#f6f6f6;padding:.8em;overflow:auto;font-size:12px}}</style>'
            f'</head><body data-ready="1"><h1>{html.escape(title)}</h1>'
            f'<p class="note">Made by valuescope {__version__} on {created}. Each page is one figure; its data is in '
            f'data/&lt;page&gt;/ as Parquet.</p>{"".join(items)}'
            f'<h2>Provenance</h2><details><summary>Show</summary><pre>{html.escape(provenance)}</pre></details>'
            f'</body></html>')
