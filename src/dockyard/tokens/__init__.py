"""Personal API tokens (`dy_pat_...`): scoped, expiring, stored hashed."""
