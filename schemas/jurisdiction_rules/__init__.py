"""Jurisdiction rules as data: one ``<id>.json`` per rule, read by :mod:`schemas.jurisdiction`.

Kept inside the package (like ``schemas/vocabularies/``) so an installed CellFed has them;
``config/`` is not installed. Adding a country's rule is adding a file here.
"""
