"""Running a network from the outside: network folders, node processes, logs, watching.

Used by the ``flobc`` command, the experiments and the benchmarks; it imports the node
and chain layers and nothing of ``cli`` or ``experiments``.
"""
