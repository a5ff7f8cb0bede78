"""Roles and permissions: what a principal may do (see permissions.py)."""
