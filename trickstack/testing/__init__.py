"""Reusable test tools for trickstack and for authors of third-party tricks (cf. ``optuna.testing``)."""
