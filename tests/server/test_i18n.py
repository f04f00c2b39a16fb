"""The console's language: Chinese by default, English one click away; no untranslated string.

Mirrors the kiosk's checks (tests/kiosk/test_ui_forms.py): every msgid Babel extracts from the
server (templates and Python, `_l`/`lazy_gettext` included) has a non-empty English msgstr, and
no template shows words outside `_()` (a scan of text nodes and of the attributes people read).
"""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from server.extensions import db
from server.i18n import CATALOGS
from tests.server.conftest import World, login

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "server"
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}
"""What marks a string for translation on the server (`pybabel extract -k _l -k lazy_gettext`)."""

ALLOWED_WORDS = {
    "Linli",  # the product's name
    "CSV",
    "XLSX",
    "ID",
    "Open311",
    "English",  # the language switch names the other language in itself
    "中文",
    "DELETE",  # the word typed to confirm a deletion
    "requests",  # requests.csv, hours.csv: file names
    "csv",
    "hours",
    "n",  # the count in a formula
    "A",  # a ticket such as A-0012, shown as an example
    "health",  # an example consent kind (a code typed as it is)
    "v",  # an example consent version, v1
}
"""Words a template may show outside `_()`: names, file names and symbols, never prose."""

READ_ATTRIBUTES = re.compile(r'\b(?:placeholder|title|aria-label|alt|label)="([^"]*)"')


def _catalog() -> dict[str, object]:
    with (CATALOGS / "en" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return {m.id: m for m in read_po(f) if m.id}


def _extracted() -> set[str]:
    method_map = [("server/**.py", "python"), ("server/**/templates/**.html", "jinja2")]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_server_string_has_an_english_translation() -> None:
    """Every string marked for translation has its English, and nothing is left fuzzy."""
    catalog = _catalog()
    used = _extracted()
    assert len(used) > 300
    missing = sorted(u for u in used if u not in catalog or not catalog[u].string)  # type: ignore[attr-defined]
    assert not missing, missing
    assert not [m for m, entry in catalog.items() if entry.fuzzy]  # type: ignore[attr-defined]


def _shown_words(text: str) -> list[str]:
    """The words of a template a reader sees outside Jinja expressions and `_()`."""
    read = [value for value in READ_ATTRIBUTES.findall(text)]
    text = re.sub(r"<(script|style|code)\b.*?</\1>", " ", text, flags=re.S)
    text = re.sub(r"\{% block body_class %\}.*?\{% endblock %\}", " ", text)  # CSS classes
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", text, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text, flags=re.S)
    read = [re.sub(r"\{\{.*?\}\}", " ", value) for value in read]
    return [w for part in [text, *read] for w in re.findall(r"[^\W\d_]+", part)]


def test_templates_hard_code_no_words() -> None:
    """Outside Jinja expressions, templates hold only markup, digits, punctuation and the
    allowed names: every word a person reads goes through `_()`."""
    found = {}
    for path in sorted(SERVER.glob("**/templates/**/*.html")):
        words = [
            w for w in _shown_words(path.read_text(encoding="utf-8")) if w not in ALLOWED_WORDS
        ]
        if words:
            found[str(path.relative_to(ROOT))] = words
    assert not found, found


def test_the_scan_sees_text_and_attributes_but_not_expressions() -> None:
    html = (
        '<p title="needs action">{{ _("x") }} 待处理 <code>name 姓名</code></p>'
        "<input placeholder=\"{{ _('例如') }}\">{% if a %}Linli{% endif %}"
    )
    assert _shown_words(html) == ["待处理", "Linli", "needs", "action"]


def test_console_speaks_chinese_by_default_and_english_on_request(
    client: FlaskClient, world: World
) -> None:
    login(client, "social_worker_lanqiao")
    assert "<h1>待处理</h1>" in client.get("/console/queue").get_data(as_text=True)
    client.set_cookie("lang", "en")
    assert "<h1>Needs action</h1>" in client.get("/console/queue").get_data(as_text=True)
    client.set_cookie("lang", "xx")
    assert "<h1>待处理</h1>" in client.get("/console/queue").get_data(as_text=True)


def test_the_switch_is_remembered_for_the_user_and_in_a_cookie(
    app: Flask, client: FlaskClient, world: World
) -> None:
    login(client, "social_worker_lanqiao")
    queue = client.get("/console/queue").get_data(as_text=True)
    assert 'hreflang="en" href="/language/en?next=/console/queue?">English</a>' in queue
    answer = client.get("/language/en", query_string={"next": "/console/queue?view=all"})
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/console/queue?view=all")
    assert "lang=en" in answer.headers["Set-Cookie"]
    page = client.get("/console/queue").get_data(as_text=True)
    assert "<h1>Needs action</h1>" in page
    assert 'hreflang="zh" href="/language/zh?next=/console/queue?">中文</a>' in page
    with app.app_context():
        from server.auth.models import User

        user = db.session.execute(
            db.select(User).filter_by(username="social_worker_lanqiao")
        ).scalar_one()
        assert user.language == "en"
    # Another browser without the cookie: the user's choice still wins once signed in.
    other = app.test_client()
    assert "<h1>登录</h1>" in other.get("/login").get_data(as_text=True)
    login(other, "social_worker_lanqiao")
    assert "<h1>Needs action</h1>" in other.get("/console/queue").get_data(as_text=True)


def test_signed_out_pages_follow_the_cookie(client: FlaskClient, world: World) -> None:
    assert "<h1>登录</h1>" in client.get("/login").get_data(as_text=True)
    answer = client.get("/language/en", query_string={"next": "https://evil.example/"})
    assert answer.status_code == 303
    assert "evil.example" not in answer.headers["Location"], "never an open redirect"
    assert "<h1>Sign in</h1>" in client.get("/login").get_data(as_text=True)
    assert client.get("/language/fr").status_code == 400


def test_days_on_screen_in_words_and_24_hour_clock(app: Flask) -> None:
    from server.localtime import localtime

    moment = datetime(2026, 11, 30, 13, 5, tzinfo=UTC)  # 21:05 in Shanghai
    with app.test_request_context("/"):
        assert localtime(moment, "screen") == "11月30日 21:05"
        assert localtime(moment, "day") == "11月30日"
        assert localtime(moment) == "2026-11-30 21:05"
    with app.test_request_context("/", headers={"Cookie": "lang=en"}):
        assert localtime(moment, "screen") == "30 Nov 21:05"
        from server.i18n import day_words

        assert day_words(date(2026, 3, 1)) == "1 Mar"


def test_each_formulas_english_is_the_docstring_of_its_function(app: Flask) -> None:
    from server.reports import queries, words

    functions = {
        "states": queries.requests_by_category_and_state,
        "channels": queries.requests_by_channel,
        "choices": queries.requests_by_choice,
        "times": queries.requests_by_preferred_time,
        "watched": queries.watched_overlay,
        "care_week": queries.care_week,
        "care_months": queries.care_months,
        "measures": queries.response_measures,
        "median": queries.median,
        "p90": queries.p90,
        "service": queries.service_by_team,
        "retention": queries.retention,
        "elders": queries.elders_served,
        "needs": queries.needs_map,
        "level": queries.level_for,
        "meeting": queries.meeting_sheet,
    }
    assert set(functions) == set(words.FORMULAS)
    with app.test_request_context("/", headers={"Cookie": "lang=en"}):
        shown = words.formulas()
        for name, function in functions.items():
            assert shown[name] == " ".join((function.__doc__ or "").split()), name
        for name, formula in queries.MEASURES.items():
            assert words.report_words("formula", name) == formula
    with app.test_request_context("/"):
        assert words.formulas()["p90"].startswith("第 90 百分位数")


def test_wtforms_own_messages_are_chinese(app: Flask) -> None:
    from werkzeug.datastructures import MultiDict

    from server.console.forms import FollowUpForm
    from server.inputs import form_problems

    data = MultiDict({"outcome": "fixed", "satisfaction": "x"})
    with app.test_request_context("/"):
        form = FollowUpForm(data)
        assert not form.validate()
        assert form_problems(form).startswith("满意度：")
    with app.test_request_context("/", headers={"Cookie": "lang=en"}):
        form = FollowUpForm(data)
        assert not form.validate()
        assert form_problems(form).startswith("satisfaction: ")


def test_error_pages_speak_the_readers_language_and_apis_keep_json(
    client: FlaskClient, world: World
) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    page = client.get("/console/nope", headers=browser)
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    body = page.get_data(as_text=True)
    assert "<h1>404 · 找不到此页</h1>" in body
    assert "找不到这个地址" in body
    client.set_cookie("lang", "en")
    body = client.get("/console/nope", headers=browser).get_data(as_text=True)
    assert "<h1>404 · Not found</h1>" in body
    assert "The requested URL was not found on the server" in body
    for path in ("/api/v1/nope", "/api/sync/v1/nope", "/sync/nope", "/open311/v2/nope"):
        answer = client.get(path, headers=browser)
        assert answer.status_code == 404, path
        assert answer.mimetype == "application/json", path
        assert answer.get_json()["error"] == "not_found", path
    # A program asking JSON anywhere else keeps the JSON shape, its detail in its language.
    answer = client.get("/console/nope", headers={"Accept": "application/json"})
    assert answer.get_json()["error"] == "not_found"


UNTRANSLATED_ERRORS_ALLOWED = ("syncapi", "ops", "migrations")
"""Server packages whose errors are read by machines or operators, not by the console's people."""


def _linli_error_names() -> set[str]:
    """The names of LinliError and every subclass, after importing every server module."""
    import importlib
    import pkgutil

    import server
    from server.errors import LinliError

    for module in pkgutil.walk_packages(server.__path__, "server."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    names, todo = set(), [LinliError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _literal_error_raises(tree: ast.AST, error_names: set[str]) -> list[int]:
    """Lines of `raise X("...")` / `raise X(f"...")` where X is a domain error."""
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
            continue
        func = node.exc.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        args = node.exc.args
        if name in error_names and args and isinstance(args[0], (ast.Constant, ast.JoinedStr)):
            lines.append(node.lineno)
    return lines


def test_domain_errors_speak_through_gettext() -> None:
    """A LinliError's detail reaches people: it is a gettext call or a variable, never a literal
    string (an f-string included), outside the kiosk protocol, the operator CLI and migrations."""
    error_names = _linli_error_names()
    assert {"NotFound", "Conflict", "InvalidInput", "LinkGone"} <= error_names
    found = []
    for path in sorted(SERVER.rglob("*.py")):
        if path.relative_to(SERVER).parts[0] in UNTRANSLATED_ERRORS_ALLOWED:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [
            f"{path.relative_to(ROOT)}:{line}" for line in _literal_error_raises(tree, error_names)
        ]
    assert not found, found


def test_the_raise_scan_sees_literals_and_f_strings_but_not_gettext() -> None:
    """The scan above flags literal and f-string details and passes gettext calls and variables."""
    source = (
        'raise NotFound("no such record")\n'
        'raise errors.Conflict(f"team {name!r} exists", "team_exists")\n'
        'raise NotFound(gettext("没有这条记录"))\n'
        "raise InvalidInput(detail)\n"
        'raise ValueError("not ours")\n'
    )
    assert _literal_error_raises(ast.parse(source), {"NotFound", "Conflict", "InvalidInput"}) == [
        1,
        2,
    ]
