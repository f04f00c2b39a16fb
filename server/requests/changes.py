"""What the kiosk that made a request learns of it, as a row of the change log."""

from __future__ import annotations

from server.requests.models import HelpRequest
from server.synclog.changes import ChangeRow
from sync.messages import RequestData


def request_change(request: HelpRequest) -> ChangeRow:
    """What the kiosk that made a request learns of it: status and the public note only."""
    return ChangeRow(
        entity="request",
        key=str(request.client_id),
        community_id=request.community_id,
        kiosk_id=request.kiosk_id,
        data=RequestData(
            status=request.status,
            note=request.public_note,
            cancel_requested=request.is_cancel_requested,
            updated_at=request.updated_at,
        ),
    )
