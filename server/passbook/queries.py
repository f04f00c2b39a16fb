"""What the passbook pages read: merchants, their communities, volunteers and redemptions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from server.communities.models import Community
from server.extensions import db
from server.passbook.models import LedgerEntry, Merchant
from server.volunteers.models import Volunteer


def community(community_id: int) -> Community:
    """The community of this id (it exists: a volunteer's)."""
    return db.session.get_one(Community, community_id)


def merchant(merchant_id: int) -> Merchant | None:
    """The merchant of this id, if any."""
    return db.session.get(Merchant, merchant_id)


def merchants_context(scope: frozenset[int]) -> dict[str, Any]:
    """The merchants of these communities and the communities, by name."""
    merchants = db.session.execute(
        sa.select(Merchant).where(Merchant.community_id.in_(scope)).order_by(Merchant.name)
    ).scalars()
    communities = db.session.execute(
        sa.select(Community).where(Community.id.in_(scope)).order_by(Community.name)
    ).scalars()
    return {"merchants": list(merchants), "communities": list(communities)}


def merchant_context(merchant: Merchant) -> dict[str, Any]:
    """The volunteers of the merchant's community and its latest 50 redemptions."""
    volunteers = db.session.execute(
        sa.select(Volunteer)
        .where(Volunteer.community_id == merchant.community_id)
        .order_by(Volunteer.name)
    ).scalars()
    recent = db.session.execute(
        sa.select(LedgerEntry, Volunteer.name)
        .join(Volunteer, Volunteer.id == LedgerEntry.volunteer_id)
        .where(LedgerEntry.merchant_id == merchant.id)
        .order_by(LedgerEntry.id.desc())
        .limit(50)
    ).all()
    return {"volunteers": list(volunteers), "recent": recent}
