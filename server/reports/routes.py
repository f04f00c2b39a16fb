"""Reports per community and period; every figure has its formula on the page.

GET /reports/                                  choose a community and a period
GET /reports/<community_id>                    requests, response measures, service, retention,
                                               elders (with charts)
GET /reports/<community_id>/needs-map          requests per building and unit (SVG grid)
GET /reports/<community_id>/meeting            the weekly joint meeting sheet (联席会); its lists
                                               page on with ?complex_after= and ?overdue_after=
GET /reports/<community_id>/promise            the 20-minute promise: repairs on site in time,
                                               by team and month, month on month
GET /reports/<community_id>/requests.csv       the period's requests (streamed)
GET /reports/<community_id>/hours.csv          the period's service records (streamed)

Query arguments `start` and `end` are local dates (YYYY-MM-DD, both included); the default is
the current month up to today.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, timedelta

from flask import (
    Blueprint,
    Response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from server.auth import access
from server.communities.models import Community
from server.errors import InvalidInput, NotFound
from server.inputs import checked, safe_row
from server.localtime import local_midnight
from server.minsheng import queries as minsheng_queries
from server.minsheng import words as minsheng_words
from server.replies import queries as reply_queries
from server.replies.words import reply_words
from server.reports import queries, words
from server.reports.forms import PeriodForm
from server.reports.queries import Period
from server.requests.words import TIME_LABELS

bp = Blueprint("reports", __name__, url_prefix="/reports", template_folder="templates")

MAX_DAYS = 3 * 366


def _period(months: int = 1) -> Period:
    """The asked period; by default the last `months` calendar months up to today."""
    today = queries.local_today()
    form = checked(PeriodForm, request.args)
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    start: date = form.start.data or first
    end: date = form.end.data or today
    if end < start:
        raise InvalidInput(gettext("统计期的结束早于开始"), "bad_period")
    if (end - start).days > MAX_DAYS:
        raise InvalidInput(gettext("报表最多覆盖三年"), "bad_period")
    return Period(start, end)


def _community(community_id: int) -> Community:
    community = queries.community(community_id)
    if community is None:
        raise NotFound(gettext("没有这个社区"))
    access.require_community(community.id)
    return community


@bp.get("/")
def index() -> ResponseReturnValue:
    """Pick a community and period (one community: straight to its report)."""
    communities = queries.communities(access.community_scope())
    if len(communities) == 1:
        return redirect(url_for("reports.overview", community_id=communities[0].id))
    return render_template("reports/index.html", communities=communities, period=_period())


@bp.get("/<int:community_id>")
def overview(community_id: int) -> ResponseReturnValue:
    """Requests, response measures, service by team, retention and elders, with formulas."""
    community = _community(community_id)
    period = _period()
    counted = queries.period_counts(community.id, period)
    states = queries.requests_by_category_and_state(community.id, period, counted)
    service = queries.service_by_team(community.id, period)
    chart = {
        "categories": {
            "labels": [c.name_zh for c, _, _ in states.rows],
            "values": [total for _, _, total in states.rows],
        },
        "teams": {
            "labels": [t.team for t in service],
            "recorded": [round(t.recorded_hours, 2) for t in service],
            "manual": [round(t.manual_hours, 2) for t in service],
        },
        "words": {
            "requests": gettext("求助"),
            "recorded": gettext("签到时长"),
            "manual": gettext("手工补录时长"),
        },
    }
    return render_template(
        "reports/overview.html",
        community=community,
        period=period,
        states=states,
        channels=queries.requests_by_channel(community.id, period, counted),
        choices=queries.requests_by_choice(community.id, period, counted),
        times=queries.requests_by_preferred_time(community.id, period, counted),
        time_labels=TIME_LABELS,
        measures=queries.response_measures(community.id, period),
        service=service,
        retention=queries.retention(community.id, period),
        elders=queries.elders_served(community.id, period),
        care=queries.care_months(community.id, period),
        chart=chart,
        min_count=queries.MIN_COUNT,
        groups=queries.STATE_GROUPS,
        report_words=words.report_words,
        formulas=words.formulas(),
    )


@bp.get("/<int:community_id>/promise")
def promise(community_id: int) -> ResponseReturnValue:
    """Repairs reached on site within 20 minutes of dispatch and within their deadline, by
    team and month (this month and the last by default, for the month-on-month change)."""
    community = _community(community_id)
    period = _period(months=2)
    return render_template(
        "reports/promise.html",
        community=community,
        period=period,
        rows=queries.promise_kept(community.id, period),
        promise_minutes=queries.PROMISE_MINUTES,
        min_count=queries.MIN_COUNT,
    )


@bp.get("/<int:community_id>/needs-map")
def needs_map(community_id: int) -> ResponseReturnValue:
    """Requests per building and unit, as an SVG grid with the count in every cell."""
    community = _community(community_id)
    period = _period()
    return render_template(
        "reports/needs_map.html",
        community=community,
        period=period,
        grid=queries.needs_map(community.id, period),
        watched=queries.watched_overlay(community.id),
        formulas=words.formulas(),
    )


def _after(name: str) -> queries.After | None:
    text = request.args.get(name)
    return queries.After.parse(text) if text else None


@bp.get("/<int:community_id>/meeting")
def meeting(community_id: int) -> ResponseReturnValue:
    """The weekly joint meeting sheet: complex cases, overdue, escalations awaiting feedback
    (the counts in full, the cases a page at a time, the oldest first)."""
    community = _community(community_id)
    sheet = queries.meeting_sheet(
        community.id,
        complex_after=_after("complex_after"),
        overdue_after=_after("overdue_after"),
    )
    week_start = queries.local_today() - timedelta(days=queries.local_today().weekday())
    return render_template(
        "reports/meeting.html",
        community=community,
        sheet=sheet,
        page_size=queries.MEETING_PAGE,
        care=queries.care_week(community.id, sheet.now),
        period=_period(),
        formulas=words.formulas(),
        week_start=week_start,
        decisions=minsheng_queries.decisions_of_week(community.id, week_start),
        last_week=minsheng_queries.decisions_of_week(community.id, week_start - timedelta(7)),
        open_items=minsheng_queries.open_items(community.id),
        replies=reply_queries.replies_since(community.id, local_midnight(week_start)),
        reply_words=reply_words,
        outcome_words=minsheng_words.outcome_words,
        can_decide=access.may(access.STAFF, community.id),
    )


def _csv(rows: Iterator[list[object]], filename: str) -> Response:
    """Stream rows as CSV (UTF-8 with BOM, so Excel opens Chinese text correctly); every cell
    passes `safe_cell` (by `safe_row`), so none runs as a formula in a spreadsheet."""

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        yield "\ufeff"
        for n, row in enumerate(rows, start=1):
            writer.writerow(safe_row(row))
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/<int:community_id>/requests.csv")
def requests_csv(community_id: int) -> ResponseReturnValue:
    """The period's requests as CSV (no names or phone numbers)."""
    community = _community(community_id)
    period = _period()
    name = f"requests-{community.slug}-{period.start}-{period.end}.csv"
    return _csv(queries.request_rows(community.id, period), name)


@bp.get("/<int:community_id>/hours.csv")
def hours_csv(community_id: int) -> ResponseReturnValue:
    """The period's service records as CSV."""
    community = _community(community_id)
    period = _period()
    name = f"hours-{community.slug}-{period.start}-{period.end}.csv"
    return _csv(queries.hours_rows(community.id, period), name)
