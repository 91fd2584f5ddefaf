"""Spec stage: load a YAML spec with positions, check it, compile it to a Destination."""
