"""Prometheus metrics: the instruments every service shares, the multiprocess directory, the
``/metrics`` endpoint and the gauges read from PostgreSQL when it is scraped (docs/metrics.md)."""
