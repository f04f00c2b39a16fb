"""Sub-choices: what is wrong within a category, as each community words it (issue 13.5)."""
