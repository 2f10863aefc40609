"""What a trainer does next under each synchronisation scheme (shared by every runtime).

The rules live on the scheme classes (:meth:`flobc.algorithms.sync.SyncScheme.next_work`);
this module keeps the runtimes' import path.
"""

from flobc.algorithms.sync import TrainerView, Work, next_work

__all__ = ["TrainerView", "Work", "next_work"]
