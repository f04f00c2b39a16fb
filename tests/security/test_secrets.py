"""Secrets that can be withdrawn: API tokens listed and revoked from the command line (and sent
in a header instead of a URL), merchants' page keys rotated and merchants deactivated from the
console and the command line, each audited.

Before, an API token could not be revoked without editing the database, a merchant key that
leaked stayed good forever, and a closed shop's page kept redeeming points.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from server.audit.actor import Actor
from tests.cli import invoke
from tests.server.conftest import World, csrf_token, login, world

__all__ = ["world"]  # fixtures shared with the console's tests


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"LINLI_DATABASE_URL": database_url, "LINLI_INSTANCE_DIR": str(tmp_path / "cli")}


def _requests(client: FlaskClient, token: str) -> Any:
    return client.get("/api/v1/requests", headers={"Authorization": f"Bearer {token}"})


def test_api_tokens_are_listed_and_revoked_from_the_command_line(
    client: FlaskClient, community: dict[str, Any], database_url: str, tmp_path: Path
) -> None:
    """`api-token list` shows name, communities, created and last use but no secret; after
    `api-token revoke` the token is a 401 JSON answer on the staff API and on Open311."""
    env = _env(database_url, tmp_path)
    secret = invoke(
        "server", "api-token", "create", "--name", "dashboard", "--community", "lanqiao", env=env
    ).stdout.split()[-1]
    other = invoke("server", "api-token", "create", "--name", "other", env=env).stdout.split()[-1]
    assert _requests(client, secret).status_code == 200
    opened = client.get("/open311/v2/services.json", headers={"Authorization": f"Bearer {secret}"})
    assert opened.status_code == 200, "Open311 takes the token in a header too"

    listing = invoke("server", "api-token", "list", env=env).stdout
    lines = listing.strip().splitlines()
    assert lines[0].split("\t") == [
        "id", "name", "communities", "created", "last used", "revoked"
    ]  # fmt: skip
    rows = {line.split("\t")[1]: line.split("\t") for line in lines[1:]}
    assert rows["dashboard"][2] == "lanqiao"
    assert rows["other"][2] == "all"
    assert rows["dashboard"][4] != "-", "the token's last use is shown"
    assert rows["dashboard"][5] == "-"
    assert secret not in listing
    assert other not in listing

    revoked = invoke("server", "api-token", "revoke", "dashboard", env=env)
    assert revoked.stdout.strip() == "API token dashboard revoked"
    refused = _requests(client, secret)
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "unknown_token"
    header = client.get("/open311/v2/services.json", headers={"Authorization": f"Bearer {secret}"})
    assert header.status_code in (401, 403)
    assert _requests(client, other).status_code == 200, "other tokens keep working"

    by_id = invoke("server", "api-token", "revoke", rows["other"][0], env=env)
    assert by_id.stdout.strip() == "API token other revoked"
    assert _requests(client, other).status_code == 401
    again = invoke("server", "api-token", "revoke", "dashboard", env=env, check=False)
    assert again.returncode == 1
    assert again.stderr.strip() == "error: 接口令牌 'dashboard' 已停用"
    listing = invoke("server", "api-token", "list", env=env).stdout
    assert all(line.split("\t")[5] != "-" for line in listing.strip().splitlines()[1:])


@pytest.fixture
def merchant(app: Flask, world: World) -> dict[str, Any]:
    """A merchant of lanqiao, its page key, and a volunteer with 100 points."""
    from server.extensions import db
    from server.passbook.services import award_bonus, register_merchant
    from server.volunteers.models import Volunteer

    with app.app_context():
        volunteer = Volunteer(
            community_id=world.community["lanqiao"], name="张", phone="13900000001"
        )
        db.session.add(volunteer)
        db.session.flush()
        award_bonus(volunteer, 100, "thanks", "seed", Actor("setup"))
        found, key = register_merchant(world.community["lanqiao"], "面包房", "1号楼")
        db.session.commit()
        return {"id": found.id, "key": key, "volunteer": volunteer.id}


def _code(app: Flask, volunteer_id: int, points: int = 10) -> str:
    """A fresh redemption code for the volunteer."""
    from server.extensions import db
    from server.passbook.services import issue_code
    from server.volunteers.models import Volunteer

    with app.app_context():
        _, text = issue_code(db.session.get_one(Volunteer, volunteer_id), points, Actor("setup"))
        db.session.commit()
        return text


def _enter_key(client: FlaskClient, key: str) -> int:
    """Type the merchant's key on its page, as the shop's phone does; the status answered."""
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/merchant").get_data(as_text=True)
    )
    assert token
    return client.post("/merchant/key", data={"key": key, "csrf_token": token.group(1)}).status_code


def _redeem_on_page(client: FlaskClient, code: str) -> Any:
    """Redeem 5 points with `code` on the merchant page the phone is signed in to."""
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/merchant").get_data(as_text=True)
    )
    assert token
    data = {"code": code, "points": "5", "item": "面包", "csrf_token": token.group(1)}
    return client.post("/merchant", data=data)


def _balance(app: Flask, volunteer_id: int) -> int:
    from server.passbook.services import balance

    with app.app_context():
        return balance(volunteer_id)


def _audit(app: Flask) -> list[str]:
    from server.audit.models import AuditEntry
    from server.extensions import db

    with app.app_context():
        return list(
            db.session.execute(sa.select(AuditEntry.what).order_by(AuditEntry.id)).scalars()
        )


def test_a_rotated_merchant_key_stops_the_old_one(
    app: Flask, client: FlaskClient, merchant: dict[str, Any]
) -> None:
    """From the console: the new key is shown once and works; the old key is refused, and the
    shop's phone signed in with the old key is signed out."""
    assert _enter_key(client, merchant["key"]) == 303
    assert _redeem_on_page(client, _code(app, merchant["volunteer"])).status_code == 200
    staff = app.test_client()
    login(staff, "social_worker_lanqiao")
    page = f"/passbook/merchants/{merchant['id']}"
    rotated = staff.post(f"{page}/rotate-key", data={"csrf_token": csrf_token(staff, page)})
    assert rotated.status_code == 200
    shown = re.search(r'<p class="code" id="new-key">([^<]+)</p>', rotated.get_data(as_text=True))
    assert shown, "the new key is shown"
    new_key = shown.group(1)
    assert new_key != merchant["key"]
    assert new_key not in staff.get(page).get_data(as_text=True), "shown only once"
    signed_out = _redeem_on_page(client, _code(app, merchant["volunteer"]))
    assert signed_out.status_code == 401, "the phone signed in with the old key"
    assert _enter_key(client, merchant["key"]) == 404
    assert client.get(f"/merchant/{merchant['key']}").status_code == 404
    assert _enter_key(client, new_key) == 303
    assert _redeem_on_page(client, _code(app, merchant["volunteer"])).status_code == 200
    assert _balance(app, merchant["volunteer"]) == 90
    assert "merchant 面包房: page key rotated" in _audit(app)


def test_a_deactivated_merchant_cannot_redeem(
    app: Flask, client: FlaskClient, merchant: dict[str, Any]
) -> None:
    """From the console: the merchant's page is closed, and staff cannot redeem there either."""
    assert _enter_key(client, merchant["key"]) == 303
    staff = app.test_client()
    login(staff, "social_worker_lanqiao")
    page = f"/passbook/merchants/{merchant['id']}"
    closed = staff.post(f"{page}/deactivate", data={"csrf_token": csrf_token(staff, page)})
    assert closed.status_code == 303
    assert "已停用" in staff.get(page).get_data(as_text=True)
    assert _redeem_on_page(client, _code(app, merchant["volunteer"])).status_code == 401
    assert _enter_key(client, merchant["key"]) == 404
    code = _code(app, merchant["volunteer"])
    token = csrf_token(staff, page)
    for data in ({"code": code}, {"volunteer": str(merchant["volunteer"]), "key": "k"}):
        answer = staff.post(
            f"{page}/redeem", data={**data, "points": "5", "item": "面包", "csrf_token": token}
        )
        assert answer.status_code in (400, 404), answer.get_data(as_text=True)[:200]
    assert _balance(app, merchant["volunteer"]) == 100, "nothing was redeemed"
    assert "merchant 面包房: deactivated" in _audit(app)


def test_merchant_commands_rotate_and_deactivate(
    app: Flask,
    client: FlaskClient,
    merchant: dict[str, Any],
    database_url: str,
    tmp_path: Path,
) -> None:
    """`linli server merchant rotate-key` prints the new key last; `deactivate` closes the page."""
    env = _env(database_url, tmp_path)
    rotated = invoke(
        "server", "merchant", "rotate-key", "--community", "lanqiao", "面包房", env=env
    )
    new_key = rotated.stdout.split()[-1]
    assert _enter_key(client, merchant["key"]) == 404
    assert _enter_key(client, new_key) == 303
    assert _redeem_on_page(client, _code(app, merchant["volunteer"])).status_code == 200
    invoke("server", "merchant", "deactivate", "--community", "lanqiao", "面包房", env=env)
    assert _redeem_on_page(client, _code(app, merchant["volunteer"])).status_code == 401
    assert _enter_key(client, new_key) == 404
    missing = invoke(
        "server", "merchant", "deactivate", "--community", "lanqiao", "无此店", env=env, check=False
    )
    assert missing.returncode == 1
    assert "本社区没有名为 '无此店' 的商家" in missing.stderr
    assert {"merchant 面包房: page key rotated", "merchant 面包房: deactivated"} <= set(_audit(app))


def test_the_merchant_key_stays_out_of_addresses(
    app: Flask, client: FlaskClient, merchant: dict[str, Any]
) -> None:
    """The key is typed into a form once; the redemption page and its form live at /merchant.
    An old link with the key in it shows the same page, signs the phone in, and its form
    posts to /merchant, without the key."""
    assert client.get("/merchant").status_code == 200, "the key form"
    refused = client.post("/merchant", data={"csrf_token": "x", "code": "x"})
    assert refused.status_code == 400  # no valid CSRF token, let alone a key
    old_link = client.get(f"/merchant/{merchant['key']}").get_data(as_text=True)
    assert 'action="/merchant"' in old_link
    page = client.get("/merchant").get_data(as_text=True)
    assert "面包房" in page
    assert merchant["key"] not in page
    assert 'action="/merchant"' in page
    assert _redeem_on_page(client, _code(app, merchant["volunteer"])).status_code == 200
