"""How a polling loop waits: briefly while there is work, longer and longer (up to a bound) while idle.

A relay that polls every 20 ms forever costs CPU on an idle system; one that waits 250 ms adds latency
under load. Doubling the wait on each empty poll and resetting it on work gives both: ~20 ms while busy,
a few polls a second while idle.
"""

from __future__ import annotations

import threading


class IdleBackoff:
    def __init__(self, least: float = 0.02, most: float = 0.25) -> None:
        self.least, self.most = least, most
        self.current = least

    def after(self, found_work: bool, stop: threading.Event) -> None:
        """Call after each poll: no wait when it found work; otherwise wait, then wait longer next time."""
        if found_work:
            self.current = self.least
            return
        stop.wait(self.current)
        self.current = min(self.most, self.current * 2)
