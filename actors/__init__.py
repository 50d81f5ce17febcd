"""Ray actor shells around the services of :mod:`agent` (the only package that imports ray)."""
