"""Help requests, their categories and their append-only event history."""
