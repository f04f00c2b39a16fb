"""Languages of the touch UI: Simplified Chinese (the catalogs' msgids) and English.

The `.po` catalogs live in `kiosk/translations`; they are compiled to `.mo` files in the
kiosk's data folder on start, so a fresh clone needs no build step and no binary in git.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

CATALOGS = Path(__file__).parent / "translations"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


def compile_catalogs(target: Path, source: Path = CATALOGS) -> Path:
    """Compile every `<lang>/LC_MESSAGES/*.po` under `source` into `target`; return `target`."""
    for po in sorted(source.glob("*/LC_MESSAGES/*.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime_ns >= po.stat().st_mtime_ns:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parts[-3])
        partial = mo.with_suffix(".part")
        with partial.open("wb") as fh:
            write_mo(fh, catalog)
        partial.replace(mo)
    return target
