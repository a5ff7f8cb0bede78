"""Images, volumes and networks per node, and cleanup of what nothing uses."""
