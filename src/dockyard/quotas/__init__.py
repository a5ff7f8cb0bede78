"""Per-user resource quotas of non-admins."""
