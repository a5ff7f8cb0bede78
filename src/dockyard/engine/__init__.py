"""The only door to the Docker Engine API (docker-py, run off the event loop)."""
