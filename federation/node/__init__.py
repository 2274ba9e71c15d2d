"""A member biobank's node: its catalogue store, imports, and the publish API."""
