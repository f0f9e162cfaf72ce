"""Chalice blueprints, one per domain: parse input, call a service, shape the response."""
