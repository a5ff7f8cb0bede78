"""Shared building blocks: database sessions, errors, pagination, time."""
