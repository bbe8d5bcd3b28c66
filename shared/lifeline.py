"""Child processes that die with their parent: Linux's parent-death signal (PR_SET_PDEATHSIG).

A supervisor that is SIGKILLed (or crashes) runs no clean-up code, so its children would live on
as orphans holding the service's ports. ``die_with_parent()`` gives ``subprocess.Popen`` a
``preexec_fn`` that asks the kernel to send the child a signal the moment its parent ends; the
setting survives ``exec``. The kernel ties it to the parent *thread* that forked, so start such
children from a thread that lives as long as the supervisor (its main thread).

Elsewhere than Linux it does nothing: the supervisor's own signal handling is all there is.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get ``sig`` when this process ends (None off Linux).

    SIGTERM, not SIGKILL: the child shuts down as it would on a stop (a Celery worker or gunicorn
    stops its own pool processes, Redis flushes its append-only file) instead of orphaning them.
    """
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up now: the child only calls it

    def set_parent_death_signal() -> None:
        if prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            os._exit(70)  # EX_SOFTWARE: better no child than one that could be orphaned
        if os.getppid() != parent:  # the parent died before the setting took: too late for it
            os.kill(os.getpid(), sig)

    return set_parent_death_signal
