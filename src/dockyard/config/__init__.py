"""Configuration as code: export/import of config kinds, snapshots, rollback, backups."""
