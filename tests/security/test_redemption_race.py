"""Two merchants enter one redemption code at the same moment: exactly one is told "redeemed",
on SQLite as on PostgreSQL; the balance moves once and the passbook chain stays intact.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.audit.actor import Actor
from tests.cli import invoke

CLIENTS_PER_MERCHANT = 3
ROUNDS = 3
START = 500
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Shop:
    """A volunteer with points and the page keys of two merchants of their community."""

    volunteer_id: int
    keys: tuple[str, str]


@pytest.fixture
def shop(app: Flask, community: dict[str, Any]) -> Shop:
    """A volunteer holding START points, and two merchants."""
    from server.communities.models import Community
    from server.extensions import db
    from server.passbook.services import post, register_merchant
    from server.volunteers.imports import ImportRow
    from server.volunteers.services import create_volunteer

    with app.app_context():
        place = db.session.get_one(Community, community["id"])
        volunteer = create_volunteer(place, ImportRow(line=0, name="张师傅", phone="13900000001"))
        _, first = register_merchant(place.id, "面包房", "1号楼底商")
        _, second = register_merchant(place.id, "粮油店", "2号楼底商")
        post(volunteer.id, "bonus", START, "seed", "setup", reason="seed")
        db.session.commit()
        return Shop(volunteer.id, (first, second))


def _issue(app: Flask, volunteer_id: int, points: int) -> str:
    from server.extensions import db
    from server.passbook.services import issue_code
    from server.volunteers.models import Volunteer

    with app.app_context():
        _, text = issue_code(db.session.get_one(Volunteer, volunteer_id), points, Actor("社工"))
        db.session.commit()
        return text


def _merchant_page(key: str) -> str:
    """The merchant's own page, where a code is entered."""
    return f"/merchant/{key}"


def _race(app: Flask, keys: tuple[str, str], code: str, points: int) -> list[tuple[int, str]]:
    """Every client of both merchants submits `code` at once; (status, page) per client."""
    clients: list[tuple[FlaskClient, str, str]] = []
    for key in keys:
        for _ in range(CLIENTS_PER_MERCHANT):
            client = app.test_client()
            page = _merchant_page(key)
            match = CSRF.search(client.get(page).get_data(as_text=True))
            assert match, "no CSRF token on the merchant page"
            clients.append((client, page, match.group(1)))
    start = threading.Barrier(len(clients))
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def submit(client: FlaskClient, page: str, token: str) -> None:
        form = {"code": code, "points": str(points), "item": "米", "csrf_token": token}
        start.wait()
        answer = client.post(page, data=form)
        with lock:
            answers.append((answer.status_code, answer.get_data(as_text=True)))

    threads = [threading.Thread(target=submit, args=c) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(answers) == len(clients), "a merchant's request did not finish"
    return answers


def test_one_code_entered_by_two_merchants_at_once_is_redeemed_once(
    app: Flask, shop: Shop, database_url: str, tmp_path: Path
) -> None:
    from server.passbook.services import balance

    spent = 0
    for round_no in range(ROUNDS):
        points = 10 + round_no
        answers = _race(app, shop.keys, _issue(app, shop.volunteer_id, points), points)
        told = [page for status, page in answers if "已兑换" in page]
        refused = [(status, page) for status, page in answers if "已兑换" not in page]
        assert len(told) == 1, f"round {round_no}: {len(told)} merchants were told 'redeemed'"
        assert all(status == 409 for status, _ in refused), [s for s, _ in refused]
        assert all("这个兑换码已" in page for _, page in refused)
        spent += points
        with app.app_context():
            assert balance(shop.volunteer_id) == START - spent
    env = {"LINLI_DATABASE_URL": database_url, "LINLI_INSTANCE_DIR": str(tmp_path / "cli")}
    verified = invoke("server", "passbook", "verify", env=env)
    assert verified.stdout.strip() == (f"passbook: 1 accounts, {1 + ROUNDS} entries, chain intact")
