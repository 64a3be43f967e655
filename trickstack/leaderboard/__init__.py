"""Yearly leaderboards of the shipped recipes: tables built from their evidence, and the static site."""
