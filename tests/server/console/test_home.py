"""GET /: a person is led to sign-in or to the console; a program gets a small JSON index."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.server.conftest import World, login

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_the_root_leads_a_person_to_sign_in_then_to_the_console(
    client: FlaskClient, world: World
) -> None:
    anonymous = client.get("/", headers=BROWSER)
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].endswith("/login")
    assert client.get(anonymous.headers["Location"], headers=BROWSER).status_code == 200
    login(client, "social_worker_lanqiao")
    signed_in = client.get("/", headers=BROWSER)
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"].endswith("/console/")
    start = client.get(signed_in.headers["Location"], headers=BROWSER)
    assert start.headers["Location"].endswith("/console/queue")


def test_the_root_gives_a_program_an_index(client: FlaskClient, world: World) -> None:
    for headers in ({"Accept": "application/json"}, {}):
        answer = client.get("/", headers=headers)
        assert answer.status_code == 200
        assert answer.get_json() == {
            "service": "linli",
            "console": "/console/",
            "sign_in": "/login",
            "health": "/healthz",
        }
