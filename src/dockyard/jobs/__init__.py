"""Jobs: every long operation is a job with status, progress lines, actor and outcome."""
