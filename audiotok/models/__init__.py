"""Models: one file per model; the registry maps config names to classes."""
