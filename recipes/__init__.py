"""trickstack.recipes: integrated recipes as data (recipes/<workload>/<year>.toml and their evidence;
see README.md) and the recipe format's code: `recipe` loads, resolves and writes those files."""
