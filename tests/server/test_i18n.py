"""The console's language: Chinese by default, English from the `lang` cookie."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.server.conftest import World, login


def test_console_speaks_chinese_by_default_and_english_on_request(
    client: FlaskClient, world: World
) -> None:
    login(client, "social_worker_lanqiao")
    assert "<h1>待处理</h1>" in client.get("/console/queue").get_data(as_text=True)
    client.set_cookie("lang", "en")
    assert "<h1>Needs action</h1>" in client.get("/console/queue").get_data(as_text=True)
    client.set_cookie("lang", "xx")
    assert "<h1>待处理</h1>" in client.get("/console/queue").get_data(as_text=True)
