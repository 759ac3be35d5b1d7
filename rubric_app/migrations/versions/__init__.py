"""One revision per schema change, named for what it does."""
