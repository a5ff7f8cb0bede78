"""The Dockyard agent (runs on a remote host) and the server's side of its connection."""
