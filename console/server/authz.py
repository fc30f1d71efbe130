"""Authorization: FLARE's policy format, checked on every command.

``local/authorization.json`` maps each role to its rights: ``"any"`` for all of them, or
an object ``{right: condition}`` where a condition is ``any``, ``none``, ``o:submitter``
(jobs submitted by someone of the user's org), ``n:submitter`` (jobs the user
submitted) or ``o:site`` (sites of the user's org; on a job, the org of the participant
applying the policy, where the job is kept: the server's, as FLARE's ``Authorizer`` judges every
command with its own ``site_org``). A right that is not listed is ``none``. The file is
checked when the server (or a site) starts; a broken one stops it with a message that names
the problem.
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
    #: The org of the participant applying this policy (the server's, a site's): ``o:site`` on a job.
    home_org: str | None = None

    @classmethod
    def load(cls, path: Path, home_org: str | None = None) -> Policy:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise PolicyError(f"{path} is missing; re-run provisioning or restore it") from None
        except ValueError as exc:
            raise PolicyError(f"{path} is not valid JSON: {exc}") from None
        return cls.from_data(data, str(path), home_org)

    @classmethod
    def from_data(cls, data: Any, where: str, home_org: str | None = None) -> Policy:
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
        return cls(rules, home_org)

    @classmethod
    def load_default(cls, home_org: str | None = None) -> Policy:
        from console.provision.policy import DEFAULT_POLICY

        return cls.from_data(DEFAULT_POLICY, "the default policy", home_org)

    def condition(self, role: str, right: Right) -> str:
        return self.rules.get(role, {}).get(right.value, "none")

    def allows(self, user: Principal, right: Right, *, submitter: dict[str, Any] | None = None,
               site_org: str | None = None) -> bool:
        """Whether ``user`` holds ``right`` here: on the job whose meta is ``submitter`` (``n:submitter``,
        ``o:submitter``), on a site of ``site_org`` (``o:site``); given neither, any scoped right counts
        (the handler checks again once it knows the job or site). ``o:site`` on a job alone is judged
        with ``home_org``, where the job is kept, as FLARE 2.9 does (its server's ``site_org``)."""
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
        if condition == "o:site" and submitter is not None:
            return self.home_org is not None and self.home_org == user.org
        return condition == "any" or (condition != "none" and submitter is None and site_org is None)

    def require_here(self, user: Principal, right: Right, what: str = "") -> None:
        """``require`` for a right on the participant applying this policy, no job or other target
        named (submitting a job to the server, running job code on the server or on a site):
        ``o:site`` is judged with ``home_org``, as FLARE 2.9's ``Authorizer`` judges every right
        with its own ``site_org``; a job-scoped condition counts (the job is, or is to be, theirs)."""
        site_org = self.home_org if self.condition(user.role, right) == "o:site" else None
        self.require(user, right, site_org=site_org, what=what)

    def require(self, user: Principal, right: Right, *, submitter: dict[str, Any] | None = None,
                site_org: str | None = None, what: str = "") -> None:
        """Raise AuthorizationError (a ``Refusal``) naming the missing right unless ``user`` holds it here."""
        if not self.allows(user, right, submitter=submitter, site_org=site_org):
            condition = self.condition(user.role, right)
            scope = {"n:submitter": " (only for jobs they submitted)", "o:submitter": " (only for their org's jobs)",
                     "o:site": " (only on their org's sites)"}.get(condition, "")
            if condition == "o:site" and site_org is None and submitter is not None:
                scope = f" (o:site: on jobs only as a user of {self.home_org or 'the org that keeps them'})"
            target = f" for {what}" if what else ""
            raise Refusal(right, f"{user.name} ({user.role}) lacks the right '{right.value}'{target}{scope}")


def principal(connection: Peer) -> Principal:
    user = connection.user
    assert user is not None
    return Principal(user.name, user.org, user.role)
