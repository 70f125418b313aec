"""Watching it: the monitoring stack, alert rules, dashboards, Alertmanager routes and per-model monitoring."""
