"""Applications: what visitors answered, and the commands that list, export and report on them."""
