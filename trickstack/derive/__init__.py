"""`recipe derive`: the best stack of the tricks known by a year, confirmed against the previous year's.

`derive` (in `trickstack.derive.derive`) runs it: `inputs` (what it starts from), `search` (the study and
the confirmation), `attribution` (Shapley runs and negative results), `writing` (the recipe and evidence).
"""
