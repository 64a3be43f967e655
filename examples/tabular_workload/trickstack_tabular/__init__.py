"""An example trickstack workload plugin (see the README's "Bring your own workload")."""
