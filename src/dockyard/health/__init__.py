"""Health checks (HTTP, TCP, Docker, MCP) with history, uptime, remediation and /metrics."""
