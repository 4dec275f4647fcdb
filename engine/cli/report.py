"""`valuescope report RUN_OR_ANALYSIS --out report.html`: one self-contained HTML file of a result.

RUN_OR_ANALYSIS is one or more cached run ids (a token search; unique prefixes work), the --out folder of
`valuescope analyze` (a family comparison) or of `valuescope implicit` (an implicit-RM comparison), or a
training run's folder (the --out of `valuescope train`). `--figures DIR` also writes each chart as SVG and PNG.
"""
from __future__ import annotations

from pathlib import Path

from engine.errors import InputError
from engine.reports.html import write_figures, write_report
from engine.store.db import Cache


def register(sub) -> None:
    p = sub.add_parser("report", help="Write one self-contained HTML file (interactive charts, sortable tables, "
                                      "embedded CSVs, provenance) of a search, analysis, implicit comparison or training run.")
    p.add_argument("target", nargs="+", metavar="RUN_OR_ANALYSIS",
                   help="Cached run id(s) (token search), or a folder: the --out of `analyze` or `implicit`, or a "
                        "training run's folder.")
    p.add_argument("--out", required=True, help="The .html file to write.")
    p.add_argument("--words", help="Token search: comma-separated words to locate in each ranking, e.g. 'love,money'.")
    p.add_argument("--top-k", type=int, default=10, help="Token search: best and worst tokens listed (default 10).")
    p.add_argument("--figures", help="Also write each chart as SVG and PNG into this folder.")
    p.add_argument("--force", action="store_true", help="Overwrite --out if it exists.")
    p.set_defaults(func=cmd_report)


def check_html_out(out, force: bool) -> Path:
    path = Path(out).expanduser()
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--out {out}: give a file name ending in .html.")
    if path.is_dir():
        raise InputError(f"--out {out} is a folder: give a file name ending in .html.")
    if path.exists() and not force:
        raise InputError(f"--out {out} already exists; pass --force to overwrite.")
    return path


def build_report(targets: list[str], home=None, words: list[str] | None = None, top_k: int = 10):
    """The Report for the command's targets (see the module docstring)."""
    from engine.reports import contents  # altair and scipy.stats: not for `valuescope --help`

    if len(targets) == 1 and Path(targets[0]).is_dir():
        folder = Path(targets[0])
        if (folder / "tables").is_dir():
            folder = folder / "tables"  # a training run's folder
        tables = contents.read_tables(folder)
        if "median_ranks" in tables:
            return contents.values_report(tables, contents.shared_provenance(tables, "median_ranks"))
        if "pairs" in tables:
            return contents.implicit_report(tables, contents.shared_provenance(tables, "pairs"))
        if "trajectory" in tables or "checkpoints" in tables:
            from engine.training.trajectory import top_movers  # scipy.stats: only a training run's report needs it

            movers = top_movers(tables["word_changes"][0], 10) if "word_changes" in tables else None
            return contents.training_report(tables, movers)
        raise InputError(f"{targets[0]} holds no valuescope tables (median_ranks from `analyze`, pairs from `implicit`, "
                         "or a training run's tables/).")
    if top_k < 1:
        raise InputError("--top-k must be at least 1.")

    cache = Cache(home)
    runs = []
    for target in targets:
        if Path(target).is_dir():
            raise InputError(f"{target} is a folder: give it alone, or give run ids only.")
        run = cache.get_run(target)
        runs.append((run, cache.scores(run["run_id"])))
    return contents.search_report(runs, words, top_k)


def cmd_report(args) -> int:
    out = check_html_out(args.out, args.force)
    words = [w.strip() for w in args.words.split(",") if w.strip()] if args.words else None
    report = build_report(args.target, args.home, words, args.top_k)
    path = write_report(report, out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB): {report.kind}, "
          f"{sum(type(b).__name__ == 'Chart' for b in report.blocks)} charts, "
          f"{sum(type(b).__name__ == 'Table' for b in report.blocks)} tables")
    if args.figures:
        figures = write_figures(report, args.figures)
        print(f"wrote {len(figures)} figures (SVG and PNG) to {args.figures}")
    return 0
