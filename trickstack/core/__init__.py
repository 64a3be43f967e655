"""The core types every layer shares: errors, parameters, budgets, run records and data files.

Nothing here imports another part of trickstack, nor Composer.
"""
