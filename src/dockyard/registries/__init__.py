"""Registry credentials and image update detection (registry digests vs local images)."""
