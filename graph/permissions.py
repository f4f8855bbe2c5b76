"""Who may call a field: permission classes over the caller's capabilities
(``domain.auth.Caller``). A refusal is a FORBIDDEN error and no data."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from graph.context import Info


class ReadsEverything(BasePermission):
    """Ops, approver and auditor keys: every payee's data, runs, ledger, jobs, keys."""

    message = "this needs an ops, approver or auditor API key"

    def __init__(self) -> None:
        self.error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.caller.reads_everything


class Operates(BasePermission):
    """Ops keys only: every change but a payee's own payouts."""

    message = "this needs an ops API key"

    def __init__(self) -> None:
        self.error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.caller.operates


class Writes(BasePermission):
    """Ops keys, and payee keys for their own payee (the resolver checks which payee)."""

    message = "this key may read, not change"

    def __init__(self) -> None:
        self.error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.caller.writes


READ: list[type[BasePermission]] = [ReadsEverything]
OPS: list[type[BasePermission]] = [Operates]
WRITE: list[type[BasePermission]] = [Writes]
