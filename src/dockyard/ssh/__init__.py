"""SSH access to inventory hosts: credentials (encrypted at rest) and trusted host keys."""
