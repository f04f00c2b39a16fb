"""Languages of the touch UI: Simplified Chinese (the catalogs' msgids) and English.

The `.po` catalogs live in `kiosk/translations`; they are compiled to `.mo` files in the
kiosk's data folder on start, so a fresh clone needs no build step and no binary in git.
"""

from __future__ import annotations

from pathlib import Path

from sync.catalogs import compile_catalogs as _compile

CATALOGS = Path(__file__).parent / "translations"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


def compile_catalogs(target: Path, source: Path = CATALOGS) -> Path:
    """Compile the kiosk's catalogs (or those under `source`) into `target`; return `target`."""
    return _compile(source, target)
