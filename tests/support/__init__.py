"""Test support shared by unit tests, integration tests and benchmarks; shipped code never imports it."""
