"""`valuescope import --paper iclr2026`: the authors' published tables into the cache, checked first.

From a local copy of the authors' repository at the recorded commit (`--from DIR`: a clone or the
extracted GitHub archive; DIR holds `data/`), or else by downloading the GitHub archive of that commit.
Every file is checked against its recorded sha256 (engine/workflows/paper_data.py) before anything
is written. Then:
- each score table of `dict_big2_nouns/` and `dict_MFD_20/` becomes one imported model,
  `big2/<short id>` or `mfd/<short id>` (the authors' labels, e.g. `big2/N-Gem-27B`), with its family
  (gemma or llama) and its origin (repository@commit:path) recorded;
- the lexicons go to `<home>/lexicons/` (`iclr2026_big2_nouns`, `iclr2026_big2_expanded`,
  `iclr2026_mfd20`: usable as --lexicon NAME);
- `token_intersection.csv` and the training-run rank tables (`rank_results_*.csv`) are copied to
  `<home>/paper/iclr2026/`. The authors' `rank_results_uf_13.csv` and `rank_results_uf_27.csv` are
  the same file (both hold the 27K run), which the import reports.
"""
from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from engine.analysis.lexicons import user_lexicon_dir
from engine.errors import InputError, MissingFileError, UserError
from engine.paths import home_dir
from engine.workflows.importer import ImportResult, import_scores
from engine.workflows.paper_data import (ICLR2026_ARCHIVE_URL, ICLR2026_COMMIT, ICLR2026_LEXICONS, ICLR2026_MODELS,
                                         ICLR2026_REPOSITORY, ICLR2026_SCORE_SETS, ICLR2026_SHA256,
                                         ICLR2026_TOKEN_INTERSECTION, ICLR2026_TRAINING_DIR, SCORE_FILE_PREFIXES)

PAPERS = ("iclr2026",)
OFFLINE_HELP = (f"clone https://github.com/{ICLR2026_REPOSITORY} and check out commit {ICLR2026_COMMIT[:7]} "
                f"(or download {ICLR2026_ARCHIVE_URL} and extract it), then run "
                "`valuescope import --paper iclr2026 --from DIR`")


@dataclass
class PaperImport:
    source: Path
    imported: list[ImportResult]
    files: dict[str, Path] = field(default_factory=dict)  # copied lexicons and tables: name -> where
    notes: list[str] = field(default_factory=list)


def paper_dir(home=None, paper: str = "iclr2026") -> Path:
    """`<home>/paper/<paper>/`: the paper's token list and training tables after the import."""
    return home_dir(home) / "paper" / paper


def import_paper(cache, paper: str = "iclr2026", from_dir=None, home=None, replace: bool = False,
                 expected_sha256: dict[str, str] | None = None) -> PaperImport:
    """Check and import the published data (see the module docstring). `expected_sha256` replaces the
    recorded hashes (tests use small tables in the same layout)."""
    if paper not in PAPERS:
        raise InputError(f"Unknown paper {paper!r}: use {', '.join(PAPERS)}.")
    expected = ICLR2026_SHA256 if expected_sha256 is None else expected_sha256
    root = Path(from_dir).expanduser() if from_dir else _download(paper_dir(home, paper) / "source")
    if not root.is_dir():
        raise MissingFileError(f"No folder {root}: {OFFLINE_HELP}.")
    root = _repository_root(root)
    verify_files(root, expected)

    imported = []
    for folder, (set_name, _) in ICLR2026_SCORE_SETS.items():
        for path in sorted((root / folder).glob("*.csv")):
            model = paper_model(path.stem)
            imported += import_scores(cache, path, family=model.family, model=f"{set_name}/{model.short_id}",
                                      revision=None, replace=replace,
                                      source=f"{ICLR2026_REPOSITORY}@{ICLR2026_COMMIT[:7]}:{folder}/{path.name} "
                                             f"({model.hub_id})")
    files = {}
    lexicons = user_lexicon_dir(home)
    lexicons.mkdir(parents=True, exist_ok=True)
    for relative, name in ICLR2026_LEXICONS.items():
        files[Path(name).stem] = _copy(root / relative, lexicons / name)
    target = paper_dir(home, paper)
    files["token_intersection"] = _copy(root / ICLR2026_TOKEN_INTERSECTION, target / Path(ICLR2026_TOKEN_INTERSECTION).name)
    for path in sorted((root / ICLR2026_TRAINING_DIR).glob("rank_results_*.csv")):
        files[path.stem] = _copy(path, target / "training" / path.name)
    return PaperImport(root, imported, files, _notes(root))


def paper_model(stem: str):
    """The reward model of one score file, from its stem (either of the authors' prefixes)."""
    name = stem
    for prefix in SCORE_FILE_PREFIXES:
        name = name.removeprefix(prefix)
    if name not in ICLR2026_MODELS:
        raise InputError(f"{stem}: not one of the paper's ten reward models ({', '.join(ICLR2026_MODELS)}).")
    return ICLR2026_MODELS[name]


def verify_files(root: Path, expected: dict[str, str]) -> None:
    """Every recorded file is present with its recorded sha256; nothing is written otherwise."""
    missing = [rel for rel in expected if not (root / rel).is_file()]
    if missing:
        raise MissingFileError(f"{root} lacks {len(missing)} published file(s), e.g. {missing[0]}: {OFFLINE_HELP}.")
    changed = [rel for rel, digest in expected.items() if sha256_of(root / rel) != digest]
    if changed:
        raise InputError(f"{len(changed)} file(s) in {root} differ from the published ones (sha256), e.g. "
                         f"{changed[0]}; use the repository at commit {ICLR2026_COMMIT[:7]}.")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _notes(root: Path) -> list[str]:
    notes = []
    uf13, uf27 = (root / ICLR2026_TRAINING_DIR / f"rank_results_uf_{n}.csv" for n in (13, 27))
    if uf13.is_file() and uf27.is_file() and sha256_of(uf13) == sha256_of(uf27):
        notes.append("rank_results_uf_13.csv and rank_results_uf_27.csv are identical files (both hold the 27K "
                     "Unified-Feedback run): the paper's 13K point in Fig 4b repeats the 27K run")
    notes.append("dict_MFD_20/ names four tables MFD20_rewards_* and six big2_rewards_*: all ten hold MFD scores "
                 "and are imported as mfd/<model>")
    return notes


def _copy(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def _repository_root(root: Path) -> Path:
    """DIR itself, or the single folder inside it (a GitHub archive extracts to <repo>-<commit>/)."""
    if (root / "data").is_dir():
        return root
    inner = [p for p in root.iterdir() if p.is_dir() and (p / "data").is_dir()]
    if len(inner) == 1:
        return inner[0]
    raise MissingFileError(f"{root} holds no data/ folder of the authors' repository: {OFFLINE_HELP}.")


def _download(target: Path) -> Path:
    """The GitHub archive of the recorded commit, extracted into `target` (once)."""
    if target.is_dir() and any(target.iterdir()):
        return target
    try:
        with urllib.request.urlopen(ICLR2026_ARCHIVE_URL, timeout=60) as response:
            data = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise UserError(f"Cannot download the published data ({exc}); offline, {OFFLINE_HELP}.") from None
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = [m for m in archive.getmembers() if "/data/" in m.name and (m.isfile() or m.isdir())]
        archive.extractall(target, members=members, filter="data")
    return target
