"""The command-line client: talks to a Dockyard server over its HTTP API."""
