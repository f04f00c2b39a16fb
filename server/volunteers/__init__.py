"""Volunteers, their teams, skills and availability, importing them, and their service hours."""
