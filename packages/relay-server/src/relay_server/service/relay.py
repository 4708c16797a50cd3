"""The relay's service, composed from one feature class per module over :class:`ServiceBase`."""

from __future__ import annotations

from relay_server.service.files import FilesFeature
from relay_server.service.join_codes import JoinCodesFeature
from relay_server.service.sessions import SessionsFeature
from relay_server.service.watch import WatchFeature


class RelayService(JoinCodesFeature, SessionsFeature, WatchFeature, FilesFeature):
    """Sessions, messages, read positions, peers and files, for authenticated callers.

    Each feature class holds one feature's use cases over the shared state of
    :class:`~relay_server.service.base.ServiceBase`; :class:`WatchFeature` builds on
    :class:`~relay_server.service.messages.MessagesFeature`, and :class:`JoinCodesFeature` on
    :class:`~relay_server.service.clients.ClientsFeature`.
    """
