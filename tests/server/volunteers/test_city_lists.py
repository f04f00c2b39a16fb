"""The volunteer pages of a user of many communities (issue 12): the volunteer list comes in
keyset pages with a search and a bounded count; teams and the hours forms work one chosen
community at a time; a user of one community sees their community as before."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.server.seed import PASSWORD, Seed, csrf_token, form_post, login

NEXT = re.compile(r'class="next" href="([^"]+)"')


def _city_admin(app: Flask) -> None:
    """`city_admin`: administrator of both communities, by one role for all."""
    from server.auth.services import create_user
    from server.extensions import db

    with app.app_context():
        create_user("city_admin", PASSWORD, "admin", [], "全市管理员", all_communities=True)
        db.session.commit()


def _names(app: Flask, ids: list[int]) -> list[tuple[str, int]]:
    from server.extensions import db
    from server.volunteers.models import Volunteer

    with app.app_context():
        return sorted((db.session.get_one(Volunteer, i).name, i) for i in ids)


def _offered(page: str) -> set[int]:
    """The volunteers the page's forms offer (every `volunteer` select's options)."""
    selects = re.findall(r'<select name="volunteer"[^>]*>(.*?)</select>', page, re.S)
    return {int(v) for select in selects for v in re.findall(r'value="(\d+)"', select)}


def _listed(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/volunteers/(\d+)"', page)]


def test_the_volunteer_list_comes_in_pages_by_name_with_a_search(
    app: Flask, client: FlaskClient, seed: Seed, monkeypatch: Any
) -> None:
    from server.volunteers import queries

    monkeypatch.setattr(queries, "VOLUNTEERS_PAGE", 2)
    monkeypatch.setattr(queries, "VOLUNTEERS_COUNTED", 4)
    _city_admin(app)
    login(client, "city_admin")
    every = seed.volunteers["lanqiao"] + seed.volunteers["feicui"]
    seen: list[int] = []
    path, pages = "/volunteers/", 0
    while path:
        page = client.get(path).get_data(as_text=True)
        pages += 1
        assert "共 4+ 位志愿者" in page
        assert "<th>社区</th>" in page, "with every community listed, each row names its own"
        seen += _listed(page)
        link = NEXT.search(page)
        path = link.group(1).replace("&amp;", "&") if link else ""
    assert pages == 3
    assert sorted(seen) == sorted(every)
    assert seen == [i for _, i in _names(app, every)], "by name, then id, each once"

    feicui = seed.community["feicui"]
    page = client.get(f"/volunteers/?community={feicui}").get_data(as_text=True)
    assert "共 3 位志愿者" in page
    link = NEXT.search(page)
    assert link
    assert f"community={feicui}" in link.group(1)
    found = client.get("/volunteers/", query_string={"q": "李阿姨"}).get_data(as_text=True)
    assert sorted(_listed(found)) == sorted(
        [seed.volunteers["lanqiao"][1], seed.volunteers["feicui"][1]]
    )
    phone = f"1390000{seed.community['lanqiao']:02d}03"
    by_phone = client.get("/volunteers/", query_string={"q": phone}).get_data(as_text=True)
    assert _listed(by_phone) == [seed.volunteers["lanqiao"][2]]
    none = client.get("/volunteers/", query_string={"q": "%"}).get_data(as_text=True)
    assert _listed(none) == []
    assert "没有找到志愿者" in none
    assert client.get("/volunteers/?after=bm90LWEta2V5").status_code == 400


def test_a_user_of_one_community_sees_only_it_and_no_chooser(
    client: FlaskClient, seed: Seed
) -> None:
    login(client, "social_worker_lanqiao")
    page = client.get("/volunteers/").get_data(as_text=True)
    assert sorted(_listed(page)) == sorted(seed.volunteers["lanqiao"])
    assert 'name="community"' not in page
    assert "<th>社区</th>" not in page
    assert "共 3 位志愿者" in page
    teams = client.get("/volunteers/teams").get_data(as_text=True)
    assert f'id="team-{seed.team["lanqiao"]}"' in teams
    assert 'name="community"' not in teams
    assert client.get(f"/volunteers/?community={seed.community['feicui']}").status_code == 404
    assert client.get(f"/volunteers/teams?community={seed.community['feicui']}").status_code == 404


def test_teams_are_worked_one_chosen_community_at_a_time(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    _city_admin(app)
    login(client, "city_admin")
    lanqiao, feicui = seed.community["lanqiao"], seed.community["feicui"]
    page = client.get("/volunteers/teams").get_data(as_text=True)
    assert 'id="choose-community"' in page
    assert 'id="team-' not in page
    page = client.get(f"/volunteers/teams?community={feicui}").get_data(as_text=True)
    assert f'id="team-{seed.team["feicui"]}"' in page
    assert f'id="team-{seed.team["lanqiao"]}"' not in page
    assert _offered(page) == set(seed.volunteers["feicui"])

    base = f"/volunteers/teams/{seed.team['lanqiao']}"
    token = csrf_token(client, f"/volunteers/teams?community={lanqiao}")
    third = seed.volunteers["lanqiao"][2]
    added = client.post(f"{base}/add", data={"volunteer": third, "csrf_token": token})
    assert added.status_code == 303
    assert added.location.endswith(
        f"/volunteers/teams?community={lanqiao}#team-{seed.team['lanqiao']}"
    )
    failed = client.post(
        f"{base}/remove", data={"volunteer": seed.volunteers["feicui"][0], "csrf_token": token}
    )
    assert failed.status_code == 400
    shown = failed.get_data(as_text=True)
    assert " 不在 " in shown, "the error shows on the page of the team's own community"
    assert f'id="team-{seed.team["lanqiao"]}"' in shown
    assert f'id="team-{seed.team["feicui"]}"' not in shown
    assert _offered(shown) == set(seed.volunteers["lanqiao"])


def test_the_hours_forms_work_in_the_chosen_community_and_decisions_span_all(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    from server.audit.actor import Actor
    from server.extensions import db
    from server.timeutil import utcnow
    from server.volunteers import services
    from server.volunteers.models import Volunteer

    with app.app_context():
        pending = {}
        for slug in ("lanqiao", "feicui"):
            volunteer = db.session.get_one(Volunteer, seed.volunteers[slug][2])
            record = services.add_manual(
                volunteer, Actor("社工"), started_at=utcnow(), minutes=30, content=f"纸质 {slug}"
            )
            pending[slug] = record.id
        db.session.commit()
    _city_admin(app)
    login(client, "city_admin")
    feicui = seed.community["feicui"]
    page = client.get("/volunteers/hours").get_data(as_text=True)
    assert 'id="choose-community"' in page
    assert 'id="check-in"' not in page
    assert f'id="record-{pending["lanqiao"]}"' in page
    assert f'id="record-{pending["feicui"]}"' in page

    here = f"/volunteers/hours?community={feicui}"
    page = client.get(here).get_data(as_text=True)
    assert 'id="check-in"' in page
    assert 'id="manual"' in page
    assert _offered(page) == set(seed.volunteers["feicui"])
    assert f'id="record-{pending["lanqiao"]}"' not in page
    assert f'action="/volunteers/hours/check-in?community={feicui}"' in page

    refused = form_post(
        client, f"/volunteers/hours/check-in?community={feicui}", {"volunteer": "0"}, here
    )
    assert refused.status_code == 400
    again = refused.get_data(as_text=True)
    assert "请选择您的志愿者之一" in again
    assert 'id="check-in"' in again
    assert _offered(again) == set(seed.volunteers["feicui"]), "redisplayed in its community"
    checked = form_post(
        client,
        f"/volunteers/hours/check-in?community={feicui}",
        {"volunteer": seed.volunteers["feicui"][0]},
        here,
    )
    assert checked.status_code == 303
    assert checked.location.endswith(here)
    approved = form_post(
        client,
        f"/volunteers/hours/{pending['feicui']}/approve?community={feicui}",
        {},
        here,
    )
    assert approved.status_code == 303
    assert approved.location.endswith(here)
