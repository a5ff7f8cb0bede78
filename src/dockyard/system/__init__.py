"""Health, readiness and server facts."""
