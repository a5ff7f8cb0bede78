"""Generic schedules: due runs claimed atomically in the database, fired as jobs."""
