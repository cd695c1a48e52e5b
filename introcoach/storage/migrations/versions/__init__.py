"""Migration scripts, applied in order by :func:`introcoach.storage.db.init_db`."""
