"""`valuescope site --out DIR`: a static website (index, one page per figure, Parquet data beside each)
from the cached runs: the value analysis of every completed run (or those the analysis options select),
plus any training runs' trajectories. See engine/reports/site.py for the layout and docs/reports.md for
pushing it as a static Hugging Face Space."""
from __future__ import annotations

from pathlib import Path

from engine.configs import AnalyzeConfig, add_dataclass_arguments, from_namespace
from engine.errors import InputError
from engine.paths import home_dir
from engine.reports.html import write_figures
from engine.reports.site import write_site
from engine.store.db import Cache


def register(sub) -> None:
    p = sub.add_parser("site", help="Write a static website of the cached results (index, one page per figure, "
                                    "Parquet data), ready for a static Hugging Face Space.")
    p.add_argument("--out", required=True, help="Folder to write the site into.")
    p.add_argument("--title", default="valuescope results", help="The site's title (and the Space's).")
    p.add_argument("--training", action="append", metavar="RUN_DIR",
                   help="Also a training run's pages (its folder); repeatable. Default: every scored run in the data folder.")
    p.add_argument("--figures", help="Also write each chart as SVG and PNG into this folder.")
    p.add_argument("--force", action="store_true", help="Write into --out even if it already holds files.")
    add_dataclass_arguments(p, AnalyzeConfig, skip=("out", "format"))
    p.set_defaults(func=cmd_site)


def cmd_site(args) -> int:
    # altair, scipy.stats and statsmodels: not for `valuescope --help`
    from engine.reports.contents import analysis_report, read_tables, training_report
    from engine.training.trajectory import top_movers
    from engine.workflows.analyze import run_analysis

    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {args.out} is a file: give a folder for the site.")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise InputError(f"--out {args.out} already holds files; pass --force to write into it, or choose another folder.")
    config = from_namespace(AnalyzeConfig, args)
    reports = []
    analysis = run_analysis(Cache(args.home), config, home=args.home, tool="valuescope site")
    reports.append(analysis_report(analysis.result, analysis.metadata, config.seed, config.resamples, config.top_k))
    for run_dir in _training_runs(args):
        tables = read_tables(run_dir / "tables")
        if "trajectory" in tables:
            movers = top_movers(tables["word_changes"][0], 10) if "word_changes" in tables else None
            reports.append(training_report(tables, movers))
    pages = write_site(reports, out, args.title)
    print(f"wrote {len(pages)} pages to {out} (index.html, {', '.join(p.name for p in pages[1:])}) and their Parquet "
          f"data under {out / 'data'}")
    for note in analysis.notes:
        print(f"note: {note}")
    if args.figures:
        # the analysis's charts in DIR, each training run's in DIR/<run> (their chart names repeat)
        figures = [path for i, report in enumerate(reports)
                   for path in write_figures(report, Path(args.figures) / (report.provenance.get("run") or f"run-{i}")
                                             if i else args.figures)]
        print(f"wrote {len(figures)} figures (SVG and PNG) to {args.figures}")
    return 0


def _training_runs(args) -> list[Path]:
    if args.training:
        missing = [d for d in args.training if not (Path(d) / "tables").is_dir()]
        if missing:
            raise InputError(f"--training {missing[0]}: no tables/ folder there (run `valuescope trajectory` on it first).")
        return [Path(d) for d in args.training]
    trained = home_dir() / "trained"
    return sorted(d for d in trained.glob("*") if (d / "tables" / "trajectory.csv").is_file()) if trained.is_dir() else []
