"""民生实事 in the browser, in Chinese: an item raised at a residents' meeting is linked to three
requests, adopted, taken in hand and done."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.server.conftest import PASSWORD, World, make_request


@pytest.fixture
def backend() -> str:
    """One server database for the browser walk."""
    return "sqlite"


@pytest.fixture
def console_url(app: Flask, world: World) -> Iterator[str]:
    """The app behind a threaded HTTP server on loopback."""
    from werkzeug.serving import make_server

    app.config["SESSION_COOKIE_SECURE"] = False
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_an_item_linked_to_three_requests_is_adopted_and_done(
    app: Flask, world: World, console_url: str, browser: Any
) -> None:
    from server.extensions import db

    with app.app_context():
        cid = world.community["lanqiao"]
        rids = [world.requests["lanqiao"]] + [
            make_request(cid, "3-2-301", "plumbing", details="暖气不热") for _ in range(2)
        ]
        db.session.commit()
    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(f"{console_url}/login")
    page.fill("input[name=username]", "social_worker_lanqiao")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.click("nav a:has-text('民生实事')")
    assert page.locator("h1").inner_text() == "民生实事清单"
    page.fill("#new-item input[name=title]", "3号楼暖气管道改造")
    page.select_option("#new-item select[name=source]", "meeting")
    page.fill("#new-item input[name=owner]", "社区主任 张")
    page.fill("#new-item input[name=due]", "2027-01-31")
    with page.expect_navigation():
        page.click("#new-item button")
    assert page.locator("#item-title").inner_text() == "3号楼暖气管道改造"
    assert page.locator("#item-state").inner_text() == "已提出"
    for rid in rids:
        page.fill("#link-request input[name=request]", str(rid))
        with page.expect_navigation():
            page.click("#link-request button")
    assert page.locator("#linked-requests li").count() == 3
    assert "关联求助（3 条）" in page.locator("body").inner_text()
    for to, words in (("adopted", "已采纳"), ("in_progress", "办理中"), ("done", "已办结")):
        with page.expect_navigation():
            page.click(f"form.move[data-to={to}] button")
        assert page.locator("#item-state").inner_text() == words
    assert page.locator("form.move").count() == 0
    page.click("a:has-text('民生实事清单')")
    row = page.locator("table.minsheng-items tr:has-text('3号楼暖气管道改造')")
    assert row.locator(".state").inner_text() == "已办结"
    page.context.close()
