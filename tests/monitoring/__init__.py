"""Fixtures of the monitoring tests: metric lists read from upstream releases, PromQL helpers, and
launchers for the real processes the end-to-end test drives on 127.0.0.1."""
