"""Residents (档案): profiles, consents, matching requests to people, PIPL rights."""
