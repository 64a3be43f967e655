"""trickstack.recipes (placeholder package; see the README)."""
