"""Languages of the console and staff pages: Simplified Chinese (the msgids) and English.

Every word a social worker, volunteer or agency reads is written in Chinese inside `_()` (or
`gettext` / `lazy_gettext` in Python); `server/translations/en` holds the English. The `.po`
files are compiled into the instance folder on start (no binary in git). The language is the
signed-in user's choice (`User.language`), else the `lang` cookie when it names one of
LANGUAGES, else (for programs on the JSON APIs only) Accept-Language, else Chinese. The switch
in the console header sets both.

Dates on screen are written the reader's way (`11月30日`, `30 Nov`); exports keep ISO dates.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel.dates import format_date
from flask import Flask, has_request_context, request
from flask_babel import Babel, get_locale
from flask_babel import gettext as _
from flask_login import current_user

from sync.catalogs import compile_catalogs

CATALOGS = Path(__file__).parent / "translations"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LANGUAGE_COOKIE = "lang"
PROGRAM_PATHS = ("/api/", "/open311/")
"""Paths whose clients are programs: Accept-Language chooses their errors' language (browsers
send their system's, so pages ignore it and stay Chinese until the switch is pressed)."""


def select_language() -> str:
    """The reader's language: their saved choice, else the `lang` cookie when valid, else a
    program's Accept-Language, else Chinese."""
    if not has_request_context():
        return DEFAULT_LANGUAGE  # a command or a job: Chinese, as the console
    chosen = getattr(current_user, "language", None) if current_user else None
    if chosen in LANGUAGES:
        return str(chosen)
    lang = request.cookies.get(LANGUAGE_COOKIE)
    if lang in LANGUAGES:
        return str(lang)
    if request.path.startswith(PROGRAM_PATHS):
        # A program cannot press the switch: it may ask with Accept-Language.
        return request.accept_languages.best_match(LANGUAGES, DEFAULT_LANGUAGE)
    return DEFAULT_LANGUAGE


def current_language() -> str:
    """The language of the page being made (one of LANGUAGES)."""
    locale = get_locale()
    return locale.language if locale is not None and locale.language in LANGUAGES else "zh"


def day_words(value: date | datetime | None) -> str:
    """A day on screen: `11月30日` in Chinese, `30 Nov` in English (exports use ISO dates)."""
    if value is None:
        return ""
    day = value.date() if isinstance(value, datetime) else value
    return format_date(day, _("M月d日"), locale=current_language())


def day_time_words(value: datetime) -> str:
    """A local wall time on screen with its day: `11月30日 14:05` (`30 Nov 14:05`), 24-hour."""
    return f"{day_words(value)} {value.strftime('%H:%M')}"


def _template_context() -> dict[str, Any]:
    return {"current_language": current_language()}


def init_app(app: Flask) -> None:
    """Compile the catalogs into the instance folder and attach Flask-Babel."""
    compiled = compile_catalogs(CATALOGS, Path(app.instance_path) / "translations")
    Babel(
        app,
        default_locale=DEFAULT_LANGUAGE,
        default_translation_directories=str(compiled),
        locale_selector=select_language,
    )
    app.context_processor(_template_context)
    app.jinja_env.globals["day_words"] = day_words
