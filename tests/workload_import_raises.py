"""A module that raises something other than ImportError while it is imported (for `module:factory` tests)."""

raise ValueError("a plugin module that fails on import")
