"""Lazy indexable sequences (standard library only). Filled in by the seq work."""
