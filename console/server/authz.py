"""Authorization: FLARE's policy format, checked on every command.

``local/authorization.json`` maps each role to its rights: ``"any"`` for all of them, or
an object ``{right: condition}`` where a condition is ``any``, ``none``, ``o:submitter``
(jobs submitted by someone of the user's org), ``n:submitter`` (jobs the user
submitted) or ``o:site`` (sites of the user's org). A right that is not listed is
``none``. The file is checked when the server (or a site) starts; a broken one stops
it with a message that names the problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.commands import Right
from console.wire.errors import ErrorType, RemoteError
from console.wire.request_context import Peer

CONDITIONS = ("any", "none", "o:submitter", "n:submitter", "o:site")
ROLES = ("project_admin", "org_admin", "lead", "member")


class PolicyError(ValueError):
    pass


class Refusal(RemoteError):
    """An AuthorizationError that knows the right it refused (``right``: its name), for the audit trail."""

    def __init__(self, right: Right, message: str) -> None:
        super().__init__(ErrorType.AUTHORIZATION, message)
        self.right = right.value


@dataclass(frozen=True)
class Principal:
    name: str
    org: str
    role: str


@dataclass(frozen=True)
class Policy:
    rules: dict[str, dict[str, str]]  # role -> right -> condition

    @classmethod
    def load(cls, path: Path) -> Policy:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise PolicyError(f"{path} is missing; re-run provisioning or restore it") from None
        except ValueError as exc:
            raise PolicyError(f"{path} is not valid JSON: {exc}") from None
        return cls.from_data(data, str(path))

    @classmethod
    def from_data(cls, data: Any, where: str) -> Policy:
        permissions = data.get("permissions") if isinstance(data, dict) else None
        if not isinstance(permissions, dict):
            raise PolicyError(f"{where} needs a 'permissions' object mapping roles to rights")
        rights = {r.value for r in Right}
        rules: dict[str, dict[str, str]] = {}
        for role, value in permissions.items():
            if value in ("any", "none"):
                rules[role] = {right: value for right in rights}
                continue
            if not isinstance(value, dict):
                raise PolicyError(f"{where}: role '{role}' must be \"any\", \"none\" or an object of rights")
            for right, condition in value.items():
                if right not in rights:
                    raise PolicyError(f"{where}: role '{role}' has unknown right '{right}'; "
                                      f"known: {', '.join(sorted(rights))}")
                if condition not in CONDITIONS:
                    raise PolicyError(f"{where}: role '{role}', right '{right}': condition {condition!r} "
                                      f"is not one of {', '.join(CONDITIONS)}")
            rules[role] = {right: value.get(right, "none") for right in rights}
        return cls(rules)

    @classmethod
    def load_default(cls) -> Policy:
        from console.provision.policy import DEFAULT_POLICY

        return cls.from_data(DEFAULT_POLICY, "the default policy")

    def condition(self, role: str, right: Right) -> str:
        return self.rules.get(role, {}).get(right.value, "none")

    def allows(self, user: Principal, right: Right, *, submitter: dict[str, Any] | None = None,
               site_org: str | None = None) -> bool:
        """Whether ``user`` holds ``right`` here: on the job whose meta is ``submitter`` (``n:submitter``,
        ``o:submitter``), on a site of ``site_org`` (``o:site``); given neither, any scoped right counts
        (the handler checks again once it knows the job or site)."""
        condition = self.condition(user.role, right)
        if right is Right.VIEW and condition in ("n:submitter", "o:submitter") and submitter is None:
            # Viewing a site or the server (report_version, a site's check_status): that condition
            # says which jobs one sees, not which sites, as check_status lists every site.
            return True
        if condition == "n:submitter" and submitter is not None:
            return submitter.get("submitter_name") == user.name
        if condition == "o:submitter" and submitter is not None:
            return submitter.get("submitter_org") == user.org
        if condition == "o:site" and site_org is not None:
            return site_org == user.org
        return condition == "any" or (condition != "none" and submitter is None and site_org is None)

    def require(self, user: Principal, right: Right, *, submitter: dict[str, Any] | None = None,
                site_org: str | None = None, what: str = "") -> None:
        """Raise AuthorizationError (a ``Refusal``) naming the missing right unless ``user`` holds it here."""
        if not self.allows(user, right, submitter=submitter, site_org=site_org):
            condition = self.condition(user.role, right)
            scope = {"n:submitter": " (only for jobs they submitted)", "o:submitter": " (only for their org's jobs)",
                     "o:site": " (only on their org's sites)"}.get(condition, "")
            target = f" for {what}" if what else ""
            raise Refusal(right, f"{user.name} ({user.role}) lacks the right '{right.value}'{target}{scope}")


def principal(connection: Peer) -> Principal:
    user = connection.user
    assert user is not None
    return Principal(user.name, user.org, user.role)
