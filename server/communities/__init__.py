"""Communities, their buildings and rooms."""
