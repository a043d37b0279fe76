"""Process-wide set-up shared by the command lines and the bench workers."""

from __future__ import annotations

import signal


def obey_sigint() -> None:
    """Make SIGINT raise KeyboardInterrupt even when this process inherited it as ignored.

    A process started in the background (`cmd &` in a script, `nohup ... &`) inherits SIGINT
    as ignored, and Python then installs no handler: the bench's forwarded Ctrl-C and a dead
    scheduler's parent-death signal would be ignored, and episodes would play on unstopped.
    mledojo's processes stop on SIGINT however they were started.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
