"""The relay's service, composed from one feature class per module over :class:`ServiceBase`."""

from __future__ import annotations

from relay_server.service.approvals import ApprovalsFeature
from relay_server.service.files import FilesFeature
from relay_server.service.join_codes import JoinCodesFeature
from relay_server.service.overview import OverviewFeature
from relay_server.service.roles import RolesFeature
from relay_server.service.search import SearchFeature
from relay_server.service.sessions import SessionsFeature
from relay_server.service.tasks import TasksFeature
from relay_server.service.watch import WatchFeature


class RelayService(
    OverviewFeature,
    JoinCodesFeature,
    SessionsFeature,
    TasksFeature,
    WatchFeature,
    FilesFeature,
    SearchFeature,
    RolesFeature,
    ApprovalsFeature,
):
    """Sessions, messages, read positions, peers, files, tasks, search, roles, join codes,
    approvals and the overview the web view shows, for callers.

    Each feature class holds one feature's use cases over the shared state of
    :class:`~relay_server.service.base.ServiceBase`; :class:`WatchFeature` builds on
    :class:`~relay_server.service.messages.MessagesFeature`, :class:`TasksFeature` on
    :class:`WatchFeature`, and :class:`JoinCodesFeature` on
    :class:`~relay_server.service.clients.ClientsFeature`.
    """

    def stop(self) -> None:
        """The relay is stopping: write the last-seen and delivery times noted in memory and
        cancel every timer, so nothing writes to the store once it is closed."""
        try:
            self.stop_seen()
            self.stop_delivered()
        finally:
            self.stop_due_timer()
