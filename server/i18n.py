"""Languages of the console and staff pages: Simplified Chinese (the msgids) and English.

Every word a social worker, volunteer or agency reads is written in Chinese inside `_()` (or
`gettext` / `lazy_gettext` in Python); `server/translations/en` holds the English. The `.po`
files are compiled into the instance folder on start (no binary in git). The language is the
`lang` cookie when it names one of LANGUAGES, else Chinese.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, has_request_context, request
from flask_babel import Babel

from sync.catalogs import compile_catalogs

CATALOGS = Path(__file__).parent / "translations"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LANGUAGE_COOKIE = "lang"


def select_language() -> str:
    """The reader's language: the `lang` cookie when valid, else Chinese (and Chinese outside
    a request: the CLI, the timer and the nightly job)."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    lang = request.cookies.get(LANGUAGE_COOKIE, DEFAULT_LANGUAGE)
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def init_app(app: Flask) -> None:
    """Compile the catalogs into the instance folder and attach Flask-Babel."""
    compiled = compile_catalogs(CATALOGS, Path(app.instance_path) / "translations")
    Babel(
        app,
        default_locale=DEFAULT_LANGUAGE,
        default_translation_directories=str(compiled),
        locale_selector=select_language,
    )
