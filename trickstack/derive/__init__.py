"""`recipe derive`: the best stack of the tricks known by a year, confirmed against the previous year's."""
