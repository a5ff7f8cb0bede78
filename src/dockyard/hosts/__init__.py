"""Host inventory: hosts, CSV import/export, SSH command templates."""
