"""Kiosks (devices): enrolment, tokens, revocation."""
