"""Console pages through the test client: sign-in, sessions, headers, the queue, a request's
page and its actions, bad input, HTML in residents' words, and query counts."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import (
    PASSWORD,
    World,
    count_queries,
    csrf_token,
    login,
    make_request,
    post,
)


def _status(app: Flask, rid: int) -> str:
    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        return db.session.get_one(HelpRequest, rid).status


def test_sign_in_sets_a_new_session_with_safe_cookie_flags(
    client: FlaskClient, world: World
) -> None:
    client.get("/login")
    before = client.get_cookie("linli_session")
    answer = client.post(
        "/login",
        data={
            "username": "social_worker_lanqiao",
            "password": PASSWORD,
            "csrf_token": csrf_token(client),
        },
    )
    assert answer.status_code == 303
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=Lax" in cookie
    after = client.get_cookie("linli_session")
    assert after is not None
    assert before is None or after.value != before.value
    assert client.get("/console/queue").status_code == 200


def test_wrong_password_and_short_passwords_are_refused(
    client: FlaskClient, world: World, app: Flask
) -> None:
    from server.auth.services import create_user
    from server.errors import InvalidInput

    answer = client.post(
        "/login",
        data={
            "username": "admin_lanqiao",
            "password": "wrong password!",
            "csrf_token": csrf_token(client),
        },
    )
    assert answer.status_code == 401
    assert "用户名或密码错误" in answer.get_data(as_text=True)
    with app.app_context(), pytest.raises(InvalidInput, match="12 个字符"):
        create_user("shorty", "elevenchars", "viewer", ["lanqiao"])


def test_production_password_hashes_are_argon2id() -> None:
    from argon2 import PasswordHasher

    hashed = PasswordHasher().hash(PASSWORD)
    assert hashed.startswith("$argon2id$")


def test_login_is_rate_limited(client: FlaskClient, world: World, app: Flask) -> None:
    app.config["LINLI_LOGIN_RATE_LIMIT"] = "10 per minute"
    app.config["LINLI_LOGIN_LOCK_AFTER"] = 100  # the per-name limit alone (lockout: security/)
    token = csrf_token(client)
    codes = [
        client.post(
            "/login",
            data={"username": "admin_lanqiao", "password": "nope nope nope", "csrf_token": token},
        ).status_code
        for _ in range(12)
    ]
    assert codes[:10] == [401] * 10
    assert codes[10:] == [429, 429]
    # Even the right password is refused while the limit holds.
    right = client.post(
        "/login", data={"username": "admin_lanqiao", "password": PASSWORD, "csrf_token": token}
    )
    assert right.status_code == 429


def test_idle_and_absolute_timeouts_end_the_session(client: FlaskClient, world: World) -> None:
    login(client, "social_worker_lanqiao")
    assert client.get("/console/queue").status_code == 200
    with client.session_transaction() as s:
        s["seen_at"] = int(time.time()) - 31 * 60
    answer = client.get("/console/queue", headers={"Accept": "text/html"})
    assert answer.status_code == 302
    assert "/login" in answer.headers["Location"]
    assert "expired=1" in answer.headers["Location"]

    login(client, "social_worker_lanqiao")
    with client.session_transaction() as s:
        s["login_at"] = int(time.time()) - 12 * 3600 - 1
    assert client.get("/console/queue", headers={"Accept": "application/json"}).status_code == 401


def test_security_headers_and_no_store(client: FlaskClient, world: World) -> None:
    login(client, "social_worker_lanqiao")
    page = client.get(f"/console/requests/{world.requests['lanqiao']}")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in page.get_data(as_text=True).split("</head>")[1]


def test_html_in_residents_words_is_shown_as_text(
    client: FlaskClient, world: World, app: Flask
) -> None:
    from server.extensions import db

    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    with app.app_context():
        rid = make_request(world.community["lanqiao"], "3-2-302", details=evil)
        db.session.commit()
    login(client, "social_worker_lanqiao")
    post(client, f"/console/requests/{rid}/note", {"text": evil})
    post(client, f"/console/requests/{rid}/public_note", {"text": "<b>bold</b>"})
    pages = [
        client.get(f"/console/requests/{rid}").get_data(as_text=True),
        client.get("/console/queue").get_data(as_text=True),
        client.get("/console/queue/rows?view=all").get_data(as_text=True),
        client.get(f"/console/jobs/{rid}").get_data(as_text=True),
    ]
    for html in pages:
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html or "&lt;script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in pages[0]


def test_every_console_post_without_csrf_is_refused(
    client: FlaskClient, world: World, app: Flask
) -> None:
    login(client, "admin_lanqiao")
    rid = world.requests["lanqiao"]
    answer = client.post(f"/console/requests/{rid}/note", data={"text": "hello"})
    assert answer.status_code == 400
    assert "CSRF" in answer.get_data(as_text=True)
    answer = client.post(
        f"/console/requests/{rid}/note", data={"text": "hi", "csrf_token": "forged"}
    )
    assert answer.status_code == 400
    assert _status(app, rid) == "received"
    assert client.post("/logout").status_code == 400


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("triage", {"category": "no-such", "priority": "normal"}, "没有类别"),
        ("triage", {"category": "electrical", "priority": "urgent!"}, "优先级"),
        ("dispatch", {"team": "abc"}, "请选择这条求助所在社区的服务队"),
        ("dispatch", {"team": "TEAM"}, "求助已收到，不能派单"),
        ("note", {"text": "   "}, "请写备注"),
        ("cancel", {"reason": ""}, "请写原因"),
        ("merge", {"into": "x"}, "编号或小票号"),
        ("public_note", {"text": "x" * 201}, "200"),
    ],
)
def test_bad_form_input_gets_a_clear_message_and_changes_nothing(
    client: FlaskClient, world: World, app: Flask, action: str, data: dict, message: str
) -> None:
    from server.extensions import db
    from server.requests.models import RequestEvent

    rid = world.requests["lanqiao"]
    with app.app_context():
        events_before = db.session.scalar(sa.select(sa.func.count(RequestEvent.id)))
    login(client, "social_worker_lanqiao")
    if data.get("team") == "TEAM":
        data = {"team": str(world.teams["lanqiao"])}
    answer = post(client, f"/console/requests/{rid}/{action}", data)
    body = answer.get_data(as_text=True)
    assert answer.status_code == (409 if "不能" in message else 400), body
    assert 'role="alert"' in body
    assert message in body
    assert _status(app, rid) == "received"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(RequestEvent.id))) == events_before


def test_the_whole_loop_through_the_forms(client: FlaskClient, world: World, app: Flask) -> None:
    rid = world.requests["lanqiao"]
    login(client, "social_worker_lanqiao")
    steps = [
        ("triage", {"category": "electrical", "priority": "normal"}, "triaged"),
        ("dispatch", {"team": str(world.teams["lanqiao"])}, "dispatched"),
        ("accept", {}, "accepted"),
        ("arrive", {}, "on_site"),
        ("complete", {"note": "new bulb", "hours": "1.5"}, "completed"),
        ("follow_up", {"outcome": "fixed", "satisfaction": "5"}, "followed_up"),
        ("close", {}, "closed_fixed"),
    ]
    for action, data, status in steps:
        answer = post(client, f"/console/requests/{rid}/{action}", data)
        assert answer.status_code == 303, (action, answer.get_data(as_text=True)[-2000:])
        assert _status(app, rid) == status
    page = client.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert 'data-from="followed_up" data-to="closed_fixed">已回访 → 已解决' in page
    assert "RESIDENT-LANQIAO" in page  # linked by room and phone at triage


def test_profile_card_view_is_audited_and_viewers_see_no_personal_data(
    client: FlaskClient, world: World, app: Flask
) -> None:
    from server.audit.models import AuditEntry
    from server.extensions import db

    rid = world.requests["lanqiao"]
    login(client, "social_worker_lanqiao")
    post(client, f"/console/requests/{rid}/link", {"resident": str(world.residents["lanqiao"])})
    client.get(f"/console/requests/{rid}")
    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEntry.action, AuditEntry.why, AuditEntry.actor).where(
                AuditEntry.resident_id == world.residents["lanqiao"]
            )
        ).all()
    assert ("view", f"request #{rid}", "social_worker lanqiao") in rows
    assert any(action == "link" for action, _, _ in rows)

    viewer = app.test_client()
    login(viewer, "viewer_lanqiao")
    page = viewer.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert "13800000001" not in page
    assert "RESIDENT-LANQIAO" not in page
    assert 'action="/console/requests' not in page


def test_queue_puts_emergencies_then_overdue_then_new(
    client: FlaskClient, world: World, app: Flask
) -> None:
    from server.extensions import db
    from server.requests.models import HelpRequest

    cid = world.community["lanqiao"]
    with app.app_context():
        new = world.requests["lanqiao"]
        overdue = make_request(cid, "3-2-302", category="plumbing", details="OVERDUE")
        db.session.get_one(HelpRequest, overdue).received_at -= timedelta(hours=3)
        emergency = make_request(cid, "3-1-101", category="emergency", details="EMERGENCY")
        db.session.commit()
    login(client, "social_worker_lanqiao")
    html = client.get("/console/queue").get_data(as_text=True)
    order = [html.index(f'data-id="{i}"') for i in (emergency, overdue, new)]
    assert order == sorted(order)
    assert '<span class="flag overdue">超时</span>' in html
    filtered = client.get("/console/queue?category=plumbing").get_data(as_text=True)
    assert f'data-id="{overdue}"' in filtered
    assert f'data-id="{new}"' not in filtered


def test_queue_keyset_pages_cover_everything_once(
    client: FlaskClient, world: World, app: Flask
) -> None:
    import re

    from server.extensions import db

    app.config["LINLI_QUEUE_PAGE_SIZE"] = 4
    with app.app_context():
        made = {world.requests["lanqiao"]}
        for _ in range(9):
            made.add(make_request(world.community["lanqiao"], "3-2-302", phone=None))
        db.session.commit()
    login(client, "viewer_lanqiao")
    for view in ("action", "all"):
        seen: list[int] = []
        url = f"/console/queue?view={view}"
        while url:
            html = client.get(url).get_data(as_text=True)
            seen += [int(i) for i in re.findall(r'data-id="(\d+)"', html)]
            link = re.search(r'class="next" href="([^"]+)"', html)
            url = link.group(1).replace("&amp;", "&") if link else ""
        assert sorted(seen) == sorted(made), view
        assert len(seen) == len(set(seen))


def test_queue_and_request_pages_have_no_n_plus_one(
    client: FlaskClient, world: World, app: Flask
) -> None:
    from server.extensions import db
    from server.requests import services as lc
    from server.requests.models import HelpRequest

    login(client, "social_worker_lanqiao")
    rid = world.requests["lanqiao"]

    def counts() -> tuple[int, int]:
        with count_queries(app) as queue:
            assert client.get("/console/queue?view=all").status_code == 200
        with count_queries(app) as page:
            assert client.get(f"/console/requests/{rid}").status_code == 200
        return len(queue), len(page)

    small = counts()
    with app.app_context():
        req = db.session.get_one(HelpRequest, rid)
        for i in range(15):
            lc.add_note(req, lc.Actor("t"), f"note {i}")
        for _ in range(15):
            other = make_request(world.community["lanqiao"], "3-1-101", phone=None)
            lc.triage(
                db.session.get_one(HelpRequest, other), lc.Actor("t"), req.category, "normal", None
            )
            lc.dispatch(
                db.session.get_one(HelpRequest, other),
                lc.Actor("t"),
                req.team or _team(world),
                None,
                None,
            )
        db.session.commit()
    assert counts() == small


def _team(world: World):
    from server.dispatch.models import Team
    from server.extensions import db

    return db.session.get_one(Team, world.teams["lanqiao"])


def test_team_lead_phone_pages(client: FlaskClient, world: World, app: Flask) -> None:
    from server.extensions import db
    from server.requests import services as lc
    from server.requests.models import HelpRequest

    rid = world.requests["lanqiao"]
    with app.app_context():
        req = db.session.get_one(HelpRequest, rid)
        lc.triage(req, lc.Actor("sw"), req.category, "normal", None)
        lc.dispatch(req, lc.Actor("sw"), _team(world), None, None)
        db.session.commit()
    login(client, "team_lead_lanqiao")
    assert client.get("/console/").headers["Location"].endswith("/console/jobs")
    assert f"/console/jobs/{rid}" in client.get("/console/jobs").get_data(as_text=True)
    assert client.get("/console/queue").status_code == 403
    for action, data, status in [
        ("accept", {}, "accepted"),
        ("arrive", {}, "on_site"),
        ("complete", {"note": "done", "hours": "0"}, "on_site"),
        ("complete", {"note": "done", "hours": "2"}, "completed"),
    ]:
        post(client, f"/console/jobs/{rid}/{action}", data)
        assert _status(app, rid) == status
    assert (
        client.post(
            f"/console/jobs/{rid}/close", data={"csrf_token": csrf_token(client)}
        ).status_code
        == 404
    )


def test_admin_manages_users_of_own_communities(
    client: FlaskClient, world: World, app: Flask
) -> None:
    login(client, "admin_lanqiao")
    page = client.get("/console/users").get_data(as_text=True)
    assert 'data-user="viewer_lanqiao"' in page
    assert "feicui" not in page
    form = {"username": "new", "password": "short", "role_lanqiao": "viewer"}
    weak = post(client, "/console/users", form)
    assert weak.status_code == 400
    assert "密码至少需要 12 个字符" in weak.get_data(as_text=True)
    made = post(client, "/console/users", {**form, "password": PASSWORD})
    assert made.status_code == 303
    other = app.test_client()
    login(other, "new")
    assert other.get("/console/queue").status_code == 200
    with app.app_context():
        from server.auth.models import User
        from server.extensions import db

        new_id = db.session.execute(sa.select(User.id).where(User.username == "new")).scalar_one()
    assert post(client, f"/console/users/{new_id}/deactivate", {}).status_code == 303
    # The open session ends at once, and signing in again is refused.
    assert other.get("/console/queue", headers={"Accept": "text/html"}).status_code == 302
    again = other.post(
        "/login", data={"username": "new", "password": PASSWORD, "csrf_token": csrf_token(other)}
    )
    assert again.status_code == 401


def test_nothing_from_before_sign_in_survives_it(client: FlaskClient, world: World) -> None:
    client.get("/login")
    with client.session_transaction() as s:
        s["planted"] = "by an attacker"
        s["_user_id"] = f"{world.users['feicui']}:1"
    login(client, "viewer_lanqiao")
    with client.session_transaction() as s:
        assert "planted" not in s
        assert s["_user_id"] != f"{world.users['feicui']}:1"
        assert len(s["sid"]) >= 16


def test_sign_in_redirects_only_within_the_site(client: FlaskClient, world: World) -> None:
    for target, expected in [
        ("/console/jobs", "/console/jobs"),
        ("https://evil.example/", "/console/"),
        ("//evil.example/", "/console/"),
        ("/\\evil.example/", "/console/"),
    ]:
        fresh = client.application.test_client()
        answer = fresh.post(
            "/login?next=" + target,
            data={
                "username": "admin_lanqiao",
                "password": PASSWORD,
                "csrf_token": csrf_token(fresh),
            },
        )
        assert answer.headers["Location"] == expected, target


def test_queue_filters_by_building_team_state_and_community(
    client: FlaskClient, world: World, app: Flask
) -> None:
    from server.extensions import db
    from server.requests import services as lc
    from server.requests.models import HelpRequest

    cid = world.community["lanqiao"]
    with app.app_context():
        in_building_one = make_request(cid, "1-1-101", details="BUILDING-ONE", phone=None)
        req = db.session.get_one(HelpRequest, in_building_one)
        lc.triage(req, lc.Actor("t"), req.category, "normal", None)
        lc.dispatch(req, lc.Actor("t"), _team(world), None, None)
        db.session.commit()
    login(client, "viewer_lanqiao")

    def ids(query: str) -> set[int]:
        import re

        html = client.get("/console/queue?view=all&" + query).get_data(as_text=True)
        return {int(i) for i in re.findall(r'data-id="(\d+)"', html)}

    everything = {world.requests["lanqiao"], in_building_one}
    assert ids("") == everything
    assert ids("building=1") == {in_building_one}
    assert ids("building=3") == {world.requests["lanqiao"]}
    assert ids(f"team={world.teams['lanqiao']}") == {in_building_one}
    assert ids("status=received") == {world.requests["lanqiao"]}
    assert ids(f"community={cid}") == everything
    assert ids(f"community={world.community['feicui']}") == set()
    assert client.get("/console/queue?status=bogus").status_code == 400


def test_live_stream_sends_changed_events(client: FlaskClient, world: World, app: Flask) -> None:
    import threading

    from server.extensions import db

    login(client, "social_worker_lanqiao")
    app.config["LINLI_LIVE_STREAM_SECONDS"] = 3
    stream = client.get("/console/queue/stream", buffered=False)
    assert stream.mimetype == "text/event-stream"
    chunks = iter(stream.response)
    assert next(chunks) == b"retry: 1000\n\n"

    def add_request() -> None:
        with app.app_context():
            make_request(world.community["lanqiao"], "3-1-101", details="NEW", phone=None)
            db.session.commit()

    timer = threading.Timer(1.2, add_request)
    timer.start()
    try:
        rest = b"".join(chunks)
    finally:
        timer.join()
        stream.close()
    assert b"event: changed\n" in rest
    anonymous = app.test_client().get("/console/queue/stream")
    assert anonymous.status_code == 401


def test_jobs_come_in_pages_oldest_first(
    client: FlaskClient, world: World, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyset on (received_at, id): every active job once, in order, pages of JOBS_PAGE."""
    import re

    from server.extensions import db
    from server.requests import queries
    from server.requests import services as lc
    from server.requests.models import HelpRequest

    monkeypatch.setattr(queries, "JOBS_PAGE", 2)
    with app.app_context():
        rids = [world.requests["lanqiao"]]
        rids += [make_request(world.community["lanqiao"], "3-2-301") for _ in range(4)]
        for rid in rids:
            req = db.session.get_one(HelpRequest, rid)
            lc.triage(req, lc.Actor("sw"), req.category, "normal", None)
            lc.dispatch(req, lc.Actor("sw"), _team(world), None, None)
        db.session.commit()
    login(client, "team_lead_lanqiao")
    seen: list[int] = []
    path = "/console/jobs"
    while path:
        page = client.get(path).get_data(as_text=True)
        seen += [int(i) for i in re.findall(r'href="/console/jobs/(\d+)"', page)]
        link = re.search(r'class="next" href="([^"]+)"', page)
        path = link.group(1).replace("&amp;", "&") if link else ""
    assert seen == rids
