"""Admin screens: what a community sets up (settings, rooms, teams, agencies, kiosks, API
tokens, category deadlines), through the same feature services as the command line."""
