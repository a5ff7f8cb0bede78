"""The per-node container state cache, fed by Docker events and periodic reconciles."""
