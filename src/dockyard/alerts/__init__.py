"""Alert channels, rules, the alert engine and its deliveries; the dashboard's data."""
