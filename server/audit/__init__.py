"""The append-only audit trail of personal data."""
