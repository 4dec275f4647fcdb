"""One self-contained HTML file for any result: it opens from a disk, an e-mail or a static web host and
makes no network request.

- Charts are Vega-Lite specs (built with altair, their data inline) drawn by Vega, Vega-Lite and
  vega-embed, whose code is inlined in the page (`vl_convert.javascript_bundle`, about 0.9 MB). They stay
  interactive (tooltips); vega-embed's menu saves each one as SVG or PNG.
- Tables are plain HTML tables; a click on a column header sorts by it (a few lines of inline script).
- Each chart's and each table's data can be downloaded from the page as CSV (`data:` links holding
  `engine.reports.export.csv_bytes`, so exactly the CSV `valuescope export` writes), and the provenance
  (every setting, run id and the valuescope version) is both shown and downloadable as JSON.
- Large tables are cut to `MAX_TABLE_ROWS` rows in the page (the page says so); a download larger than
  `MAX_EMBEDDED_BYTES` is left out and the page names the command that writes it.
"""
from __future__ import annotations

import base64
import functools
import gzip
import html
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from engine import __version__
from engine.reports.export import _write_atomically, csv_bytes, jsonable

MAX_TABLE_ROWS = 500  # rows shown in the page; the download holds them all
MAX_EMBEDDED_BYTES = 1_500_000  # a download larger than this (after gzip for big tables) is left out
GZIP_ABOVE_BYTES = 200_000  # a CSV larger than this is embedded gzip-compressed (.csv.gz)
VEGA_LITE_VERSION = "v6.4"  # the schema altair 6 writes
EMBED_OPTIONS = {"actions": {"export": True, "source": False, "compiled": False, "editor": False},
                 "renderer": "svg"}  # no "open in editor": that would leave the page


@dataclass
class Text:
    """A paragraph (plain text, escaped)."""
    text: str


@dataclass
class Heading:
    text: str


@dataclass
class Chart:
    """An altair chart and the table it draws (offered as CSV beside it)."""
    name: str  # file stem of its CSV and, with --figures, of its SVG and PNG
    title: str
    chart: object
    data: pd.DataFrame
    caption: str = ""


@dataclass
class Table:
    name: str
    title: str
    table: pd.DataFrame
    caption: str = ""
    formats: dict = field(default_factory=dict)  # column -> Python format spec for the page, e.g. ".3f"


@dataclass
class Download:
    """A file offered from the page (e.g. the full ranking), or, when `data` is None, why it is not."""
    label: str
    file_name: str
    data: bytes | None
    note: str = ""
    mime: str = "application/octet-stream"


@dataclass
class Report:
    title: str
    kind: str  # "token search", "family comparison", "implicit-RM comparison", "training run", "figure"
    provenance: dict
    blocks: list = field(default_factory=list)
    subtitle: str = ""


# ---- the page --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """vega, vega-lite and vega-embed as one script assigning window.vegaEmbed (no imports, no requests)."""
    import vl_convert  # a native library, 9 MB resident: only when a report is written

    # "</script" inside the code would end the script element early; "<\/" means the same in JavaScript
    return vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION).replace("</script", "<\\/script")


def chart_spec(chart) -> dict:
    """The Vega-Lite spec of an altair chart, with its data inline (no row limit: the caller bounds it)."""
    import altair as alt  # altair: only a report with charts needs it (0.8 s)

    with alt.data_transformers.disable_max_rows():
        return chart.to_dict()


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def csv_download(name: str, table: pd.DataFrame, label: str | None = None) -> Download:
    """A table as an embedded CSV (gzip-compressed when large; left out, with a note, when too large even then)."""
    data, file_name, mime = csv_bytes(table), f"{name}.csv", "text/csv"
    if len(data) > GZIP_ABOVE_BYTES:
        data, file_name, mime = gzip.compress(data, 6, mtime=0), f"{name}.csv.gz", "application/gzip"
    label = label or f"{name}.csv"
    if len(data) > MAX_EMBEDDED_BYTES:
        return Download(label, file_name, None, f"{len(table):,} rows: too large to embed in this page")
    return Download(label, file_name, data, f"{len(table):,} rows", mime)


def _script_json(value) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False, allow_nan=False).replace("</", "<\\/")


def _cell(value, fmt: str | None) -> tuple[str, str]:
    """(shown text, sort key) of one table cell; numbers sort by value, missing values last."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return "", ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value), str(value)
    shown = format(value, fmt) if fmt else (f"{value:,}" if isinstance(value, int) else f"{value:.6g}")
    return shown, repr(float(value))


def _table_html(table: pd.DataFrame, formats: dict, table_id: str) -> str:
    shown = table.head(MAX_TABLE_ROWS)
    head = "".join(f'<th title="click to sort">{html.escape(str(c))}</th>' for c in shown.columns)
    columns = [shown[c].astype(object).tolist() for c in shown.columns]
    fmts = [formats.get(c) for c in shown.columns]
    body = []
    for row in zip(*columns):
        cells = []
        for value, fmt in zip(row, fmts):
            plain = value.item() if hasattr(value, "item") else value  # numpy scalars as Python numbers
            text, key = _cell(plain, fmt)
            number = isinstance(plain, (int, float)) and not isinstance(plain, bool) and key != ""
            cells.append(f'<td data-sort="{html.escape(key)}"' + (' class="num"' if number else "") + f">{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = (f'<p class="note">Showing the first {MAX_TABLE_ROWS:,} of {len(table):,} rows; the CSV holds all of them.</p>'
            if len(table) > MAX_TABLE_ROWS else "")
    return (f'<div class="scroll"><table class="sortable" id="{table_id}" data-rows="{len(shown)}"><thead><tr>{head}'
            f'</tr></thead><tbody>{"".join(body)}</tbody></table></div>{note}')


def _download_html(item: Download, css_class: str = "download") -> str:
    if item.data is None:
        return f'<p class="note missing-download">{html.escape(item.label)}: not in this page ({html.escape(item.note)}).</p>'
    return (f'<p class="dl"><a class="{css_class}" download="{html.escape(item.file_name)}" '
            f'href="{data_url(item.data, item.mime)}">⤓ {html.escape(item.label)}</a> '
            f'<span class="note">{html.escape(item.note)}</span></p>')


def render(report: Report, site_nav: str = "", bundle_file: str | None = None) -> str:
    """The report as one HTML document (the Vega libraries, every chart's data and the provenance inside).
    A site's pages share one copy of the libraries instead: `bundle_file`, a path relative to the page."""
    parts, specs = [], []
    for i, block in enumerate(report.blocks):
        if isinstance(block, Heading):
            parts.append(f"<h2>{html.escape(block.text)}</h2>")
        elif isinstance(block, Text):
            parts.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, Chart):
            specs.append((f"chart-{i}", chart_spec(block.chart)))
            parts.append(f'<section class="figure" data-name="{html.escape(block.name)}"><h3>{html.escape(block.title)}</h3>'
                         + (f'<p class="caption">{html.escape(block.caption)}</p>' if block.caption else "")
                         + f'<div class="chart" id="chart-{i}" data-name="{html.escape(block.name)}"></div>'
                         + _download_html(csv_download(block.name, block.data, f"chart data: {block.name}.csv"))
                         + "</section>")
        elif isinstance(block, Table):
            parts.append(f'<section class="table" data-name="{html.escape(block.name)}"><h3>{html.escape(block.title)}</h3>'
                         + (f'<p class="caption">{html.escape(block.caption)}</p>' if block.caption else "")
                         + _table_html(block.table, block.formats, f"table-{i}")
                         + _download_html(csv_download(block.name, block.table)) + "</section>")
        elif isinstance(block, Download):
            parts.append(f'<section class="file">{_download_html(block)}</section>')
        else:
            raise TypeError(f"unknown report block {type(block).__name__}")
    provenance = {"report": report.kind, "valuescope_version": __version__,
                  "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **report.provenance}
    provenance_json = json.dumps(jsonable(provenance), indent=2, ensure_ascii=False)
    provenance_link = _download_html(Download("provenance.json", "provenance.json", provenance_json.encode("utf-8"),
                                              "every setting and run id behind this report", "application/json"))
    title = html.escape(report.title)
    return _PAGE.format(
        title=title, subtitle=html.escape(report.subtitle), nav=site_nav, body="\n".join(parts),
        provenance=html.escape(provenance_json), provenance_link=provenance_link, version=__version__,
        kind=html.escape(report.kind), style=_STYLE,
        bundle=f'<script src="{html.escape(bundle_file)}"></script>' if bundle_file else f"<script>{vega_bundle()}</script>",
        specs=_script_json(dict(specs)),
        embed_options=_script_json(EMBED_OPTIONS), script=_SCRIPT)


def write_report(report: Report, path: str | Path, site_nav: str = "", bundle_file: str | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, render(report, site_nav, bundle_file).encode("utf-8"))
    return path


def write_figures(report: Report, folder: str | Path) -> list[Path]:
    """Each chart of the report as `<name>.svg` and `<name>.png` (2x scale), for papers and slides."""
    import vl_convert  # a native library, 9 MB resident: only when figures are written

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for block in report.blocks:
        if isinstance(block, Chart):
            spec = chart_spec(block.chart)
            svg, png = folder / f"{block.name}.svg", folder / f"{block.name}.png"
            svg.write_text(vl_convert.vegalite_to_svg(spec, vl_version=VEGA_LITE_VERSION), encoding="utf-8")
            png.write_bytes(vl_convert.vegalite_to_png(spec, vl_version=VEGA_LITE_VERSION, scale=2))
            written += [svg, png]
    return written


_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;padding:1.2em 2em;color:#222}
h1{margin-bottom:.1em} .subtitle{color:#555;margin-top:0} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
.note,.caption{color:#555;font-size:13px} .scroll{max-height:460px;overflow:auto;border:1px solid #e3e3e3}
table{border-collapse:collapse;font-size:13px;width:100%} th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;white-space:nowrap}
th{position:sticky;top:0;background:#f6f6f6;cursor:pointer;user-select:none} th.asc::after{content:" ▲"} th.desc::after{content:" ▼"}
td.num{text-align:right;font-variant-numeric:tabular-nums} a.download{font-size:13px} section{margin:1.2em 0}
.chart{overflow-x:auto} nav a{margin-right:1em} pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:12px}
.error{color:#b00020}
"""

_SCRIPT = """
(function(){
  const specs = JSON.parse(document.getElementById('vs-specs').textContent);
  const options = JSON.parse(document.getElementById('vs-embed-options').textContent);
  for (const [id, spec] of Object.entries(specs)) {
    const el = document.getElementById(id);
    vegaEmbed(el, spec, options).then(() => { el.dataset.rendered = '1'; })
      .catch(err => { el.dataset.rendered = 'error'; el.innerHTML = '<p class="error">Chart failed: ' + err + '</p>'; });
  }
  // sortable tables: a click on a header sorts by that column (numbers by value), again to reverse
  for (const table of document.querySelectorAll('table.sortable')) {
    table.querySelectorAll('th').forEach((th, col) => th.addEventListener('click', () => {
      const asc = !th.classList.contains('asc');
      table.querySelectorAll('th').forEach(h => h.classList.remove('asc', 'desc'));
      th.classList.add(asc ? 'asc' : 'desc');
      const body = table.tBodies[0], rows = Array.from(body.rows);
      const key = r => r.cells[col].dataset.sort;
      const numeric = rows.every(r => key(r) === '' || r.cells[col].classList.contains('num'));
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        if (x === '' || y === '') return (x === '') - (y === '');  // missing values last
        const d = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return asc ? d : -d;
      });
      rows.forEach(r => body.appendChild(r));
    }));
  }
  document.body.dataset.ready = '1';
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="generator" content="valuescope {version}"><title>{title}</title><style>{style}</style></head>
<body data-report="{kind}">
{nav}
<h1>{title}</h1><p class="subtitle">{subtitle}</p>
{body}
<h2>Provenance</h2>
<p class="note">Made by valuescope {version}. Everything needed to reproduce these numbers: settings, models, revisions,
run ids. This page needs no network: the charting libraries (Vega, Vega-Lite, vega-embed) travel with it.</p>
{provenance_link}
<details><summary>Show the provenance</summary><pre id="vs-provenance">{provenance}</pre></details>
<script type="application/json" id="vs-specs">{specs}</script>
<script type="application/json" id="vs-embed-options">{embed_options}</script>
{bundle}
<script>{script}</script>
</body></html>
"""
