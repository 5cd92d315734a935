"""Leaderboards rebuilt from stored results: the store, the typed-in paper numbers, the renderers."""
