"""The ``flobc`` command line."""
