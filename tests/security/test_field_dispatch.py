"""Route by route, the skill word list is kept only by the admins of its community (a social
worker, a team lead or a viewer is refused; another community's admin finds nothing), and a
volunteer's buildings (楼长) are set only by staff of the volunteer's community."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from server.auth.access import ADMINS, POLICY
from tests.server.field.conftest import Jobs, jobs
from tests.server.seed import csrf_token, login

__all__ = ["jobs"]

WORD_ENDPOINTS = sorted(e for e, rule in POLICY.items() if e.startswith("field_console.skill_"))


def _signed_in(app: Flask, username: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    login(client, username)
    return client, csrf_token(client, "/login")


def _lanqiao_word(app: Flask, jobs: Jobs) -> int:
    from server.audit.actor import Actor
    from server.extensions import db
    from server.field.queries import category_by_code
    from server.field.services import add_skill_word

    with app.app_context():
        category = category_by_code("electrical")
        assert category is not None
        row = add_skill_word(jobs.seed.community["lanqiao"], category, "电工", Actor("setup"))
        db.session.commit()
        return int(row.id)


def _calls(app: Flask, jobs: Jobs, word_id: int) -> dict[str, tuple[str, str]]:
    lanqiao = jobs.seed.community["lanqiao"]
    return {
        "field_console.skill_words": ("GET", f"/console/skill-words?community={lanqiao}"),
        "field_console.skill_word_add": ("POST", "/console/skill-words"),
        "field_console.skill_words_suggested": ("POST", "/console/skill-words/suggested"),
        "field_console.skill_word_remove": ("POST", f"/console/skill-words/{word_id}/remove"),
    }


def test_every_word_list_route_is_for_admins_and_covered_here() -> None:
    assert WORD_ENDPOINTS == [
        "field_console.skill_word_add",
        "field_console.skill_word_remove",
        "field_console.skill_words",
        "field_console.skill_words_suggested",
    ]
    assert all(POLICY[e].roles == ADMINS for e in WORD_ENDPOINTS)


@pytest.mark.parametrize("endpoint", WORD_ENDPOINTS)
def test_a_word_list_route_refuses_other_roles_and_hides_another_community(
    app: Flask, jobs: Jobs, endpoint: str
) -> None:
    from server.extensions import db
    from server.field.models import SkillWord

    word_id = _lanqiao_word(app, jobs)
    method, url = _calls(app, jobs, word_id)[endpoint]
    data = {"community": str(jobs.seed.community["lanqiao"]), "category": "plumbing"}
    data["word"] = "水暖工"
    for username in ("social_worker_lanqiao", "team_lead_lanqiao", "viewer_lanqiao"):
        client, token = _signed_in(app, username)
        answer = client.open(url, method=method, data={**data, "csrf_token": token})
        assert answer.status_code == 403, username
    outsider, token = _signed_in(app, "admin_feicui")
    answer = outsider.open(url, method=method, data={**data, "csrf_token": token})
    assert answer.status_code == 404
    with app.app_context():
        rows = db.session.execute(sa.select(SkillWord.word)).scalars().all()
    assert rows == ["电工"]  # nothing added, nothing removed
    owner, token = _signed_in(app, "admin_lanqiao")
    answer = owner.open(url, method=method, data={**data, "csrf_token": token})
    assert answer.status_code in (200, 303)


def test_a_volunteers_buildings_are_set_only_by_staff_of_their_community(
    app: Flask, jobs: Jobs
) -> None:
    from server.extensions import db
    from server.field.models import BuildingCaptain

    volunteer = jobs.seed.volunteers["lanqiao"][1]
    url = f"/console/volunteers/{volunteer}/card/buildings"
    for username, status in (
        ("team_lead_lanqiao", 403),
        ("viewer_lanqiao", 403),
        ("social_worker_feicui", 404),
        ("admin_feicui", 404),
    ):
        client, token = _signed_in(app, username)
        answer = client.post(url, data={"buildings": "3", "csrf_token": token})
        assert answer.status_code == status, username
    client, _ = _signed_in(app, "social_worker_lanqiao")
    assert client.post(url, data={"buildings": "3"}).status_code in (400, 403)  # no CSRF token
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(BuildingCaptain)) == 0
