"""Dispatch to real people: skills matched to categories by the community's word list (used
by the team suggestions and the roster alike), kept by its admins on a small page or the
command line, and building captains (楼长) offered first on requests in their buildings."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from tests.server.field.conftest import Jobs
from tests.server.seed import form_post, login


def _roster(app: Flask, rid: int, team: int) -> list[tuple[str, bool, bool]]:
    from server.extensions import db
    from server.field.queries import rosters
    from server.requests.models import HelpRequest

    with app.app_context():
        req = db.session.get_one(HelpRequest, rid)
        return [(e.name, e.skilled, e.captain) for e in rosters(req, [team])[team]]


def _team_skilled(app: Flask, rid: int) -> int:
    from server.extensions import db
    from server.requests.models import HelpRequest
    from server.requests.services import suggest_teams

    with app.app_context():
        (suggestion,) = suggest_teams(db.session.get_one(HelpRequest, rid))
        return suggestion.skilled


def _set_skills(app: Flask, volunteer_id: int, skills: list[str]) -> None:
    from server.extensions import db
    from server.volunteers.models import Volunteer

    with app.app_context():
        db.session.get_one(Volunteer, volunteer_id).skills = skills
        db.session.commit()


def test_the_word_list_makes_a_skill_count_for_the_category_in_suggestions_and_roster(
    app: Flask, jobs: Jobs
) -> None:
    from server.audit.actor import Actor
    from server.extensions import db
    from server.field.queries import category_by_code
    from server.field.services import add_skill_word

    _, li, _ = jobs.seed.volunteers["lanqiao"]
    team, rid = jobs.seed.team["lanqiao"], jobs.requests["lanqiao"]
    _set_skills(app, li, ["水电维修"])
    assert ("李阿姨 lanqiao", False, False) in _roster(app, rid, team)
    assert _team_skilled(app, rid) == 0
    with app.app_context():
        electrical = category_by_code("electrical")
        assert electrical is not None
        add_skill_word(jobs.seed.community["lanqiao"], electrical, "水电维修", Actor("sw"))
        db.session.commit()
    assert _roster(app, rid, team)[0] == ("李阿姨 lanqiao", True, False)
    assert _team_skilled(app, rid) == 1
    # Another community's list is its own.
    feicui = jobs.requests["feicui"]
    _set_skills(app, jobs.seed.volunteers["feicui"][0], ["水电维修"])
    assert _team_skilled(app, feicui) == 0


def test_the_admin_keeps_the_word_list_on_its_page_and_every_change_is_audited(
    app: Flask, jobs: Jobs
) -> None:
    from server.audit.models import AuditEntry
    from server.extensions import db
    from server.field.models import SkillWord

    admin = app.test_client()
    login(admin, "admin_lanqiao")
    page = "/console/skill-words"
    assert "技能词表" in admin.get(page).get_data(as_text=True)
    here = {"community": str(jobs.seed.community["lanqiao"])}
    unnamed = form_post(admin, page, {"category": "electrical", "word": "电工"}, page)
    assert unnamed.status_code == 400  # a change names its community
    added = form_post(admin, page, {**here, "category": "electrical", "word": " 电工 "}, page)
    assert added.status_code == 303
    again = form_post(admin, page, {**here, "category": "electrical", "word": "电工"}, page)
    assert again.status_code == 409
    assert "「电工」已算作照明/电路" in again.get_data(as_text=True)
    suggested = form_post(admin, f"{page}/suggested", here, page)
    assert suggested.status_code == 303
    shown = admin.get(page).get_data(as_text=True)
    assert "水电维修" in shown
    with app.app_context():
        word_id = db.session.execute(
            sa.select(SkillWord.id).where(SkillWord.word == "电工").limit(1)
        ).scalar_one()
        kept = db.session.scalar(sa.select(sa.func.count()).select_from(SkillWord))
    removed = form_post(admin, f"{page}/{word_id}/remove", {}, page)
    assert removed.status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SkillWord)) == kept - 1
        what = list(
            db.session.execute(
                sa.select(AuditEntry.what).where(AuditEntry.why == "dispatch word list")
            ).scalars()
        )
    assert what[0] == "skill word '电工' counts for electrical"
    assert what[-1] == "skill word '电工' no longer counts for electrical"
    assert len(what) == 3


def test_the_command_line_lists_adds_and_suggests_words(
    app: Flask, jobs: Jobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server import cli

    monkeypatch.setattr(cli, "_app", lambda: app)
    runner = CliRunner()
    add = ["skill-words", "add", "--community", "lanqiao", "--category", "electrical"]
    result = runner.invoke(cli.server_group, [*add, "电工", "水电维修"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli.server_group, ["skill-words", "suggested", "--community", "lanqiao"])
    assert result.exit_code == 0, result.output
    assert "suggested word(s) added" in result.output
    result = runner.invoke(cli.server_group, ["skill-words", "list", "--community", "lanqiao"])
    assert "electrical\t水电工 水电维修 电器维修 电工" in result.output.splitlines()
    bad = runner.invoke(cli.server_group, [*add[:-1], "nope", "x"])
    assert bad.exit_code == 1


def test_a_building_captain_is_offered_first_and_marked_on_the_dispatch_form(
    app: Flask, jobs: Jobs
) -> None:
    from server.audit.models import AuditEntry
    from server.extensions import db

    li = jobs.seed.volunteers["lanqiao"][1]
    team, rid = jobs.seed.team["lanqiao"], jobs.requests["lanqiao"]  # in building 3
    worker = app.test_client()
    login(worker, "social_worker_lanqiao")
    card = f"/console/volunteers/{li}/card"
    unknown = form_post(worker, f"{card}/buildings", {"buildings": "3 99"}, card)
    assert unknown.status_code == 400
    assert "本社区没有这些楼栋：99" in unknown.get_data(as_text=True)
    saved = form_post(worker, f"{card}/buildings", {"buildings": "3"}, card)
    assert saved.status_code == 303
    assert "负责楼栋：3" in worker.get(card).get_data(as_text=True)
    assert _roster(app, rid, team)[0] == ("李阿姨 lanqiao", False, True)
    page = worker.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert '李阿姨 lanqiao · <strong class="captain">楼长</strong>' in page
    cleared = form_post(worker, f"{card}/buildings", {"buildings": ""}, card)
    assert cleared.status_code == 303
    assert not any(captain for _, _, captain in _roster(app, rid, team))
    with app.app_context():
        what = list(
            db.session.execute(sa.select(AuditEntry.what).where(AuditEntry.why == "楼长")).scalars()
        )
    assert what == [
        f"volunteer #{li}: building captain of 3",
        f"volunteer #{li}: building captain of none",
    ]


def test_a_team_with_the_buildings_captain_is_suggested_first(app: Flask, jobs: Jobs) -> None:
    from server.audit.actor import Actor
    from server.dispatch.services import create_team
    from server.extensions import db
    from server.field.services import set_captain_buildings
    from server.requests.models import HelpRequest
    from server.requests.services import suggest_teams
    from server.volunteers.models import Volunteer
    from server.volunteers.services import add_member

    zhang, _, wang = jobs.seed.volunteers["lanqiao"]
    rid = jobs.requests["lanqiao"]
    _set_skills(app, zhang, ["电工", "electrical"])  # the team of 小蜜蜂 has the skill
    with app.app_context():
        team = create_team("lanqiao", "3号楼互助组", ["electrical"])
        volunteer = db.session.get_one(Volunteer, wang)
        add_member(team, volunteer)
        db.session.commit()
        req = db.session.get_one(HelpRequest, rid)
        assert suggest_teams(req)[0].team.name == "小蜜蜂 lanqiao"
        set_captain_buildings(volunteer, ["3"], Actor("sw"))
        db.session.commit()
        first = suggest_teams(req)[0]
        assert (first.team.name, first.captains) == ("3号楼互助组", 1)
    worker = app.test_client()
    login(worker, "social_worker_lanqiao")
    page = worker.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert "3号楼互助组 ✓ 承接 electrical · 有本楼楼长" in page
