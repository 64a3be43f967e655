"""trickstack.recipes: the shipped integrated recipes, as data (recipes/<workload>/<year>.toml; see README.md)."""
