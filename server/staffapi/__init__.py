"""The staff read API for integrations: requests and rejected operations."""
