"""Fleet-wide views: every container of every node, one container, log search."""
