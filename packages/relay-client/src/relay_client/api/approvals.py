"""Approvals and our settings on the relay (approvers, push allowlist)."""

from __future__ import annotations

from relay_client.api.connection import Connection, query_params
from relay_core.approvals import (
    APPROVALS_PATH,
    SETTINGS_PATH,
    Approval,
    ApprovalList,
    ClientSettings,
    approval_answer_path,
    approval_path,
)


class ApprovalsMixin(Connection):
    """``/api/v1/settings`` and ``/api/v1/approvals``."""

    def settings(self) -> ClientSettings:
        """Our settings on the relay: approvers and push allowlist."""
        return self._model(ClientSettings, self._request("GET", SETTINGS_PATH))

    def update_settings(self, changes: dict[str, list[str] | None]) -> ClientSettings:
        """Change the settings named in ``changes`` (``push_from: None`` restores the default)."""
        response = self._request("PUT", SETTINGS_PATH, json=changes)
        return self._model(ClientSettings, response)

    def approvals(
        self, *, history: bool = False, after_id: int = 0, wait_s: float | None = None
    ) -> ApprovalList:
        """Approvals we asked for or may answer: pending ones, or all with ``history``; with
        ``wait_s``, waits that long for the first one after ``after_id``."""
        params = query_params(after_id=after_id, wait=wait_s)
        if history:
            params["history"] = "1"
        response = self._request(
            "GET", APPROVALS_PATH, params=params, read_timeout_s=self._long_poll_timeout(wait_s)
        )
        return self._model(ApprovalList, response)

    def approval(self, approval_id: int) -> Approval:
        """One approval with its audit trail."""
        return self._model(Approval, self._request("GET", approval_path(approval_id)))

    def answer_approval(self, approval_id: int, behavior: str, note: str = "") -> Approval:
        """Allow or deny an approval."""
        body = {"behavior": behavior, "note": note}
        response = self._request("POST", approval_answer_path(approval_id), json=body)
        return self._model(Approval, response)
