"""trickstack.ablations (placeholder package; see the README)."""
