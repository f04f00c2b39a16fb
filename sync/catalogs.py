"""Translation catalogs kept as `.po` text in git and compiled to `.mo` where an app runs.

Both sides use it: the kiosk compiles into its data folder, the server into its instance
folder, so a fresh clone needs no build step and no binary in git.
"""

from __future__ import annotations

import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po


def compile_catalogs(source: Path, target: Path) -> Path:
    """Compile every `<lang>/LC_MESSAGES/*.po` under `source` into `target`; return `target`."""
    for po in sorted(source.glob("*/LC_MESSAGES/*.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime_ns >= po.stat().st_mtime_ns:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parts[-3])
        partial = mo.with_suffix(f".{os.getpid()}.part")  # workers may compile at once
        with partial.open("wb") as fh:
            write_mo(fh, catalog)
        partial.replace(mo)
    return target
