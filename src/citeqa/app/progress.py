"""Progress bars on stderr for index builds, shared by the CLI and the app's ``serve``."""

from __future__ import annotations

import sys
from collections.abc import Callable


def progress_bars() -> Callable[[str, int, int], None]:
    """A progress callback for index builds: one tqdm bar on stderr per kind of text embedded."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def report(what: str, done: int, total: int) -> None:
        bar = bars.get(what)
        if bar is None:
            unit = what[:-1] if what.endswith("s") else what
            bar = bars[what] = tqdm(
                total=total, desc=f"embedding {what}", unit=unit, file=sys.stderr, leave=True, disable=None
            )
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return report
