"""``earshot watch``: poll and follow every source, detect as posts arrive,
record each episode's events once, hand them to the senders, and (with
``--listen``) serve what it knows to Prometheus, feed readers and load balancers.

Its rooms, in the order a pass goes through them: :mod:`.fetching`,
:mod:`.detecting`, :mod:`.recording` with :mod:`.quiet`, :mod:`.heartbeat`,
:mod:`.readings`; :mod:`.loop` ties them together and :mod:`.serving` reads
only :mod:`.readings`.
"""

from .loop import Watcher
from .readings import Readings
from .serving import Server

__all__ = ["Readings", "Server", "Watcher"]
