"""One validation layer for every entry point: CSV tables, world / lift profiles, output folders.

* :mod:`harness.validate.tables`: reading a CSV (duplicate headers, unreadable files), numeric and
  date columns (blank, NaN, inf, magnitudes), each problem an :class:`harness.errors.InputError`
  naming file, row and field;
* :mod:`harness.validate.rules`: the cross-field rules of ``data.csv`` and ``lift_tests.csv``;
* :mod:`harness.validate.profiles`: pydantic schemas of world and lift profiles (unknown keys,
  NaN and inf refused), errors naming the YAML file and line;
* :mod:`harness.validate.paths`: output folders checked for writability before any work, safe names;
* :mod:`harness.validate.warn`: one-line warnings for legal but suspicious input.

Refusals raise :class:`harness.errors.InputError` or :class:`harness.errors.ConfigError`, which
:func:`harness.cli.main` turns into one line on stderr and exit status 2.
"""
from harness.validate.warn import warn, warnings_issued  # noqa: F401
