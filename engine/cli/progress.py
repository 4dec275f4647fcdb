"""A progress bar for long CLI work (tqdm on stderr)."""
from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(label: str, leave: bool = True, unit: str = "cand"):
    """A `progress(done, total)` callback that draws a tqdm bar on stderr once work starts."""
    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=label[:60], unit=unit, file=sys.stderr, leave=leave)
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update
