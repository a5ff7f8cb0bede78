"""Docker hosts managed by Dockyard."""
