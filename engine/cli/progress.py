"""A progress bar for long CLI work (tqdm on stderr)."""
from __future__ import annotations

import sys

from tqdm import tqdm


def printable(text: str) -> str:
    """`text` with control characters (escape sequences a prompt may carry) shown escaped, never sent to the terminal."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(text))


def progress_bar(label: str, leave: bool = True, unit: str = "cand"):
    """A `progress(done, total)` callback that draws a tqdm bar on stderr once work starts."""
    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if not total:  # a stage without a fraction (loading)
            return
        if bar is not None and (total != bar.total or done < bar.n):  # a new stage (converting, scoring, writing)
            bar.close()
            bar = None
        if bar is None:
            bar = tqdm(total=total, desc=printable(label)[:60], unit=unit, file=sys.stderr, leave=leave)
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update
