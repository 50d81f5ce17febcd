"""Migration revisions, oldest first: ``v0001_initial`` creates every table."""
