"""The phone keeps the pages' script, style and icon: their URLs name the content's digest and
are cached for a year (immutable); an unversioned or outdated URL is revalidated; every page and
list with personal data stays no-store."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from tests.server.field.conftest import HEADERS, Jobs, dispatch, phone_of

YEAR = "public, max-age=31536000, immutable"


def _file(phone: FlaskClient, url: str, **headers: str) -> tuple[int, dict[str, str]]:
    """(status, headers) of a file's answer, its stream closed."""
    with phone.get(url, headers=headers) as answer:
        return answer.status_code, dict(answer.headers)


def test_static_files_are_versioned_and_immutable_while_pages_stay_no_store(
    app: Flask, jobs: Jobs
) -> None:
    zhang = jobs.seed.volunteers["lanqiao"][0]
    rid = jobs.requests["lanqiao"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [zhang])
    phone = phone_of(app, zhang)
    page = phone.get("/v/")
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    urls = re.findall(r'(/v/static/[\w.]+\?v=[0-9a-f]{12})"', html)
    assert {u.split("?")[0] for u in urls} == {
        "/v/static/field.js",
        "/v/static/field.css",
        "/v/static/icon.svg",
    }
    for url in urls:
        status, got = _file(phone, url)
        assert status == 200
        assert got["Cache-Control"] == YEAR
        assert "Set-Cookie" not in got
    manifest = phone.get("/v/manifest.webmanifest").get_json()
    assert re.fullmatch(r"/v/static/icon\.svg\?v=[0-9a-f]{12}", manifest["icons"][0]["src"])

    _, plain = _file(phone, "/v/static/field.js")
    assert plain["Cache-Control"] == "no-cache"
    assert _file(phone, "/v/static/field.js", **{"If-None-Match": plain["ETag"]})[0] == 304
    assert _file(phone, "/v/static/field.js?v=000000000000")[1]["Cache-Control"] == "no-cache"
    assert _file(phone, "/v/static/nothing.js?v=1")[0] == 404

    for url in ("/v/", f"/v/jobs/{rid}", "/v/hours", "/v/record"):
        assert phone.get(url).headers["Cache-Control"] == "no-store", url
    assert phone.get("/v/jobs.json", headers=HEADERS).headers["Cache-Control"] == "no-store"
    assert _file(phone, "/v/sw.js")[1]["Cache-Control"] == "no-store"
