"""CellFed's settings, its command line and its local launchers.

- ``cellfed.config``: the settings every app and command loads (defaults, instance file,
  environment), checked and typed;
- ``cellfed.cli``: the ``cellfed`` command, one module per command group;
- ``cellfed.demo``, ``cellfed.serve``, ``cellfed.memory`` and ``cellfed.launch``: running the
  alliance on one machine (the search engine, Keycloak, PostgreSQL, a mail sink, the demo).

The web apps (``portal``, ``federation``, ``search``) import only ``cellfed.config`` from
here, which needs nothing but the standard library; everything else is for operators, the
demo and the tests. Shared web plumbing lives in ``federation.web``.
"""
