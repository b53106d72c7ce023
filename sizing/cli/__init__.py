"""The `sizing` command line: :mod:`sizing.cli.main` is the `sizing` command (its own
sub-commands, and each other sub-command registered from its module: ``plan``,
``measure``, ``load``, ``run``, ``serve``); :mod:`sizing.cli.common` holds what they
share. ``python -m sizing.cli`` runs it."""
