"""What passes between kiosks and the server, as the server keeps it: the operations it
answered, the conflicts it recorded, and the change log kiosks pull (below every feature that
publishes a change, so none of them needs the sync API)."""
