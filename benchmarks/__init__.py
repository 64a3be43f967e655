"""trickstack.benchmarks (placeholder package; see the README)."""
