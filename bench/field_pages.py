"""Benchmark: a volunteer's phone pages (issue 14): what each page weighs, and how long a job
dispatched at the desk takes to show on the volunteer's open 我的任务 without a reload.

Serves the app (SQLite in a temporary folder) on loopback, opens the volunteer's card link in
Debian's Chromium on a 390x844 phone viewport, sums the bytes of every answer per page (HTML,
CSS, JS, manifest, icon, service worker), then dispatches `--jobs` requests one after another
and times each from the dispatch's commit (at a random moment of the poll period) to the
job's row in the page.

    .venv/bin/python -m bench.field_pages [--jobs 10]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
ROOMS = "building,unit,room\n3,2,301\n3,2,302\n"


def _world(app: Any, jobs: int) -> tuple[str, int, int, list[int]]:
    """A community, a team with one volunteer, `jobs` triaged requests: (token, team, volunteer,
    request ids)."""
    from flask_migrate import upgrade

    from server.audit.actor import Actor
    from server.communities.services import create_community, import_rooms, parse_rooms_csv
    from server.dispatch.services import create_team
    from server.extensions import db
    from server.field.services import issue_link
    from server.requests import services as lifecycle
    from server.requests.models import Category
    from server.volunteers.imports import ImportRow
    from server.volunteers.services import add_member, create_volunteer

    with app.app_context():
        upgrade()
        community = create_community("lanqiao", "蓝桥社区")
        import_rooms(community, parse_rooms_csv(ROOMS, "rooms.csv"))
        team = create_team("lanqiao", "小蜜蜂", ["electrical"])
        volunteer = create_volunteer(community, ImportRow(line=0, name="张拓", phone="13900000001"))
        add_member(team, volunteer)
        electrical = db.session.query(Category).filter_by(code="electrical").one()
        ids = []
        for n in range(jobs):
            intake = lifecycle.Intake(
                community_id=community.id,
                room="3-2-301",
                category="electrical",
                channel="phone",
                details=f"客厅灯不亮 {n}",
            )
            req = lifecycle.create_by_staff(intake, Actor("bench"))
            lifecycle.triage(req, Actor("bench"), electrical, "normal", None)
            ids.append(req.id)
        token = issue_link(volunteer, Actor("bench"))
        db.session.commit()
        return token, team.id, volunteer.id, ids


def _dispatch(app: Any, request_id: int, team_id: int, volunteer_id: int) -> None:
    from server.audit.actor import Actor
    from server.dispatch.models import Team
    from server.extensions import db
    from server.field.services import dispatch
    from server.requests.models import HelpRequest

    with app.app_context():
        req = db.session.get_one(HelpRequest, request_id)
        dispatch(req, Actor("bench"), db.session.get_one(Team, team_id), [volunteer_id], None)
        db.session.commit()


def _weigh(page: Any, url: str) -> dict[str, int]:
    """Bytes of every answer while `url` loads, by path."""
    sizes: dict[str, int] = {}

    def seen(response: Any) -> None:
        with contextlib.suppress(Exception):  # a redirect has no body to weigh
            sizes[response.url.split("://", 1)[1].split("/", 1)[1]] = len(response.body())

    page.on("response", seen)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.remove_listener("response", seen)
    return sizes


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from server import create_app
    from server.field.routes import POLL_SECONDS

    folder = Path(tempfile.mkdtemp(prefix="linli-field-bench-"))
    app = create_app(
        {
            "LINLI_DATABASE_URL": f"sqlite:///{folder / 'linli.sqlite3'}",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'linli.sqlite3'}",
            "LINLI_INSTANCE_DIR": str(folder),
            "SESSION_COOKIE_SECURE": False,
        }
    )
    token, team_id, volunteer_id, ids = _world(app, args.jobs)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(**PHONE)
        page = context.new_page()
        page.goto(f"{base}/v/k/{token}")
        page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
        _dispatch(app, ids[0], team_id, volunteer_id)
        weights = {
            "我的任务 /v/": _weigh(page, f"{base}/v/"),
            "one job /v/jobs/<id>": _weigh(page, f"{base}/v/jobs/{ids[0]}"),
            "我的时长 /v/hours": _weigh(page, f"{base}/v/hours"),
        }
        static = context.request
        extra = {
            path: len(static.get(f"{base}{path}").body())
            for path in ("/v/sw.js", "/v/manifest.webmanifest", "/v/jobs.json")
        }
        page.goto(f"{base}/v/")
        waits = []
        for request_id in ids[1:]:
            # Dispatch at a random moment of the page's poll period, as a desk would.
            time.sleep(random.uniform(0, POLL_SECONDS))
            _dispatch(app, request_id, team_id, volunteer_id)
            started = time.perf_counter()
            page.locator(f"#job-list li.job[data-request-id='{request_id}']").wait_for(
                timeout=30_000
            )
            waits.append(time.perf_counter() - started)
        browser.close()
    httpd.shutdown()

    print("page weights: every answer a page loads (HTML, CSS, JS, icon), uncompressed, in KB")
    for name, sizes in weights.items():
        total = sum(sizes.values())
        parts = ", ".join(f"{path} {n / 1024:.1f}" for path, n in sorted(sizes.items()))
        print(f"  {name}: {total / 1024:.1f} KB  ({parts})")
    for path, n in extra.items():
        print(f"  {path}: {n / 1024:.1f} KB")
    print(f"dispatch → shown on 我的任务 (poll every {POLL_SECONDS} s), {len(waits)} jobs:")
    print(
        f"  mean {statistics.mean(waits):.2f} s, median {statistics.median(waits):.2f} s, "
        f"max {max(waits):.2f} s"
    )


if __name__ == "__main__":
    main()
