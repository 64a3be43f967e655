"""The ``trickstack`` command. It translates flags into library calls; nothing else imports it."""

from trickstack.cli.app import main

__all__ = ["main"]
