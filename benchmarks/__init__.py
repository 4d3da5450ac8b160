"""Lupa benchmarks: ``python -m benchmarks [--quick]`` (``make bench``); see docs/check-api.md."""
