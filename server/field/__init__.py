"""Volunteers' own phone pages: a sign-in link on their card, their jobs (offline-first, actions
applied exactly once), their hours, points and service record; who is on each job."""
