"""Who may run which recipe and approve which gated action: config.yaml `policy:` as rules.

    policy = Policy(settings.policy)
    policy.check_may_run("lead", "prepare_refund")              # PolicyError when not
    needs = policy.requirements("refund", gate.binds)           # approvals, role, auto
    policy.check_may_approve("reviewer", action="refund", needs=needs,
                             initiator="lead", already=["supervisor"])

Who has which roles: an account's roles come from its account (`aijia users`, in the
evidence store), and win over `policy.users`, which names the identities that are not
accounts (an OS user with `policy.trust_os_user`, the scheduler's user, names given by
embedding code); a disabled account has no roles. How a user is proven is
`agent.gates.identity`'s job; this module trusts the name it is given.

Rules, in the order they are checked (each refusal is a PolicyError that names the rule):
unknown users have no rights; a role grants running recipes (`run`) and approving actions
(`approve`, '*' = all); the initiator of a run never approves it; an action may require a role
outright (`require_role`) or above an amount (`supervisor_above`); above `two_approvers_above`
two distinct people must approve. Amounts are compared per currency; a currency without a
threshold counts as above it, and an amount that cannot be read counts as above every one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from agent.core.errors import PolicyError
from agent.core.settings import ActionPolicy, PolicySettings

AUTO_APPROVER = "policy:auto"  # the approver recorded when policy approves by itself


@dataclass(frozen=True)
class Requirements:
    """What approving one gate takes, as policy reads its binds."""

    action: str
    approvals: int = 1  # distinct people
    role: str | None = None  # every approver needs it (None: any role that may approve)
    auto: bool = False  # policy approves by itself
    amount: Decimal | None = None
    currency: str | None = None
    why: list[str] = field(default_factory=list)  # sentences, for `aijia gates show`

    def describe(self) -> str:
        if self.auto:
            return "approved by policy (auto)"
        who = f"role {self.role}" if self.role else f"a role that may approve {self.action}"
        people = "two distinct approvers" if self.approvals > 1 else "one approver"
        return f"{people} with {who}"


def _amount(binds: Mapping[str, Any], rules: ActionPolicy) -> tuple[Decimal | None, str | None]:
    raw, currency = binds.get(rules.amount_bind), binds.get(rules.currency_bind)
    if isinstance(raw, Mapping):  # a money value {amount, currency}
        currency = currency or raw.get("currency")
        raw = raw.get("amount")
    try:
        amount = Decimal(str(raw).replace(",", "")) if raw is not None else None
    except InvalidOperation:
        amount = None
    return amount, (str(currency).upper() if currency else None)


def _above(limits: Mapping[str, Decimal], amount: Decimal | None, currency: str | None) -> bool:
    """Fail safe: an unknown amount or a currency without a limit counts as above it."""
    if not limits:
        return False
    if amount is None or currency is None or currency not in limits:
        return True
    return amount > limits[currency]


# Reads every account's roles (name -> roles; a disabled account: []), e.g.
# `EvidenceStore.account_roles`; read at each decision, so a change applies at once.
AccountRoles = Callable[[], Mapping[str, list[str]]]


class Policy:
    def __init__(self, settings: PolicySettings, accounts: AccountRoles | None = None) -> None:
        self.settings = settings
        self._accounts = accounts

    # ------------------------------------------------------------------ who is who

    def roles_map(self) -> dict[str, list[str]]:
        """Everyone with roles: `policy.users`, overridden by the accounts (which win)."""
        merged = {u: list(r) for u, r in self.settings.users.items()}
        if self._accounts is not None:
            merged.update({u: list(r) for u, r in self._accounts().items()})
        return merged

    def roles_of(self, user: str) -> list[str]:
        if self._accounts is not None:
            accounts = self._accounts()
            if user in accounts:
                return list(accounts[user])
        return list(self.settings.users.get(user, []))

    def _known(self, user: str, doing: str) -> list[str]:
        roles = self.roles_of(user)
        if not roles:
            raise PolicyError(
                f"user {user!r} is not in the policy (no enabled account, not in "
                f"policy.users), so may not {doing}",
                hint="sign in as a user with a role (`aijia login`); an admin gives roles "
                "with `aijia users add`",
            )
        return roles

    def _grants(self, role: str, kind: str, name: str) -> bool:
        rights = self.settings.roles.get(role)
        allowed: list[str] = getattr(rights, kind, []) if rights is not None else []
        return "*" in allowed or name in allowed

    def check_known(self, user: str, doing: str) -> None:
        """PolicyError unless `user` is listed in the policy (with any role)."""
        self._known(user, doing)

    def check_may_run(self, user: str, recipe: str) -> None:
        roles = self._known(user, f"run {recipe}")
        if not any(self._grants(r, "run", recipe) for r in roles):
            raise PolicyError(
                f"user {user!r} (roles: {', '.join(roles)}) may not run recipe {recipe!r}",
                hint="policy.roles.<role>.run in config.yaml lists the recipes a role may run",
            )

    # ------------------------------------------------------------------ approvals

    def requirements(self, action: str, binds: Mapping[str, Any]) -> Requirements:
        rules = self.settings.actions.get(action) or ActionPolicy()
        amount, currency = _amount(binds, rules)
        why: list[str] = []
        role = rules.require_role
        if role:
            why.append(f"{action} always needs role {role}")
        approvals = 1
        money = f"{amount} {currency}" if amount is not None else "an unreadable amount"
        if _above(rules.supervisor_above, amount, currency):
            role = self.settings.supervisor_role
            limit = rules.supervisor_above.get(currency or "")
            why.append(f"{money} is above {limit or 'any known'} {currency or ''}: role {role}")
        if _above(rules.two_approvers_above, amount, currency):
            approvals = 2
            limit = rules.two_approvers_above.get(currency or "")
            why.append(f"{money} is above {limit or 'any known'} {currency or ''}: two approvers")
        auto = False
        if rules.auto_approve is True:
            auto = True
        elif isinstance(rules.auto_approve, Mapping) and rules.auto_approve:
            limit = rules.auto_approve.get(currency or "")
            auto = amount is not None and limit is not None and amount < limit
        if auto and (approvals > 1 or role is not None):
            auto = False  # a threshold always wins over auto-approval
        if auto:
            why.append(f"{action} is auto-approved by policy")
        return Requirements(action, approvals, role, auto, amount, currency, why)

    def may_approve(
        self, user: str, action: str, needs: Requirements, roles: list[str] | None = None
    ) -> bool:
        roles = self.roles_of(user) if roles is None else roles
        if not any(self._grants(r, "approve", action) for r in roles):
            return False
        return needs.role is None or needs.role in roles

    def approvers(self, action: str, needs: Requirements, *, initiator: str | None) -> list[str]:
        """The users with roles (accounts and `policy.users`) who could approve (the
        initiator excluded)."""
        return sorted(
            u
            for u, roles in self.roles_map().items()
            if u != initiator and self.may_approve(u, action, needs, roles)
        )

    def check_may_approve(
        self,
        user: str,
        *,
        action: str,
        needs: Requirements,
        initiator: str | None,
        already: Iterable[str] = (),
    ) -> None:
        """PolicyError naming the rule when `user` may not approve (or reject) this gate."""
        roles = self._known(user, f"decide a {action} gate")
        if initiator is not None and user == initiator:
            raise PolicyError(
                f"user {user!r} started this run and may not approve it (separation of duties)",
                hint="ask another reviewer: `aijia gates show ID` lists who may approve",
            )
        if not any(self._grants(r, "approve", action) for r in roles):
            raise PolicyError(
                f"user {user!r} (roles: {', '.join(roles)}) may not approve {action!r} gates",
                hint="policy.roles.<role>.approve in config.yaml lists the actions a role "
                "may approve",
            )
        if needs.role is not None and needs.role not in roles:
            reason = "; ".join(needs.why) or f"{action} needs role {needs.role}"
            raise PolicyError(
                f"user {user!r} (roles: {', '.join(roles)}) may not approve this gate: "
                f"it needs role {needs.role} ({reason})",
                hint="ask a user with that role",
            )
        if user in set(already):
            raise PolicyError(
                f"user {user!r} already approved this gate; it needs "
                f"{needs.approvals} distinct approvers",
                hint="a second, different approver must approve it",
            )

    # ------------------------------------------------------------------ closing runs

    def check_may_close(
        self,
        user: str,
        *,
        action: str,
        binds: Mapping[str, Any],
        initiator: str | None,
    ) -> None:
        """PolicyError naming the rule when `user` may not close an approved or in_doubt run
        of `action` (`aijia runs close`): they must be listed, must not have started it, and
        need the supervisor role or a role that may approve this gate (its thresholds too)."""
        roles = self._known(user, f"close a {action} run")
        if initiator is not None and user == initiator:
            raise PolicyError(
                f"user {user!r} started this run and may not close it (separation of duties)",
                hint="ask a supervisor or a reviewer who may approve it",
            )
        if self.settings.supervisor_role in roles:
            return
        needs = self.requirements(action, binds)
        if not self.may_approve(user, action, needs):
            raise PolicyError(
                f"user {user!r} (roles: {', '.join(roles)}) may not close this {action} run: "
                f"it takes role {self.settings.supervisor_role} or {needs.describe()}",
                hint="ask a supervisor",
            )
