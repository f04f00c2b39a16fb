"""Console roles in the reader's words (msgids Chinese, English in the catalog)."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

ROLE_WORDS: dict[str, LazyString] = {
    "admin": _l("管理员"),
    "social_worker": _l("社工"),
    "team_lead": _l("服务队长"),
    "viewer": _l("只读"),
}
"""Every role of server.auth.models.ROLES, in words."""


def role_words(role: str) -> str:
    """The words for a role (an unknown one as it is)."""
    return str(ROLE_WORDS.get(role, role))
