"""A study's report: a model of its sections, built from the runs table, and its renderers."""
