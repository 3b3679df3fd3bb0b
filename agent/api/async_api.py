"""`AsyncAijia`: the one way into Aijia — every front end starts, approves and resumes runs here.

    async with AsyncAijia.from_config("config.yaml") as aijia:
        result = await aijia.run("prepare_refund", {"order_id": "…", "amount": "5.00",
                                 "reason": "damaged"}, site="shoplane", as_user="lead")
        gates = await aijia.pending_gates("reviewer")
        decision = await aijia.approve(result.gate.gate_id, as_user="reviewer", note="ok")
        done = await aijia.resume(result.run_id, as_user="reviewer")

Policy is applied here and nowhere else can a run be started or decided around it: `run`
checks that the user may run the recipe and records them as the initiator; `approve` and
`reject` check roles, thresholds and separation of duties (the initiator never approves).

Who acts (`as_user=`): an `Identity` proven by `identify` (a personal token) or `login` (a
password) — what the CLI and the console pass — or a plain name from embedding code, which
holds the store already and is trusted as it is (recorded as proof "api"). Every approval
records the name and how it was proven (agent/gates/identity.py).
`agent.Aijia` is the same API without `await` (generated from this class).

Everything under `agent/` other than `agent.Aijia`, `agent.AsyncAijia` and the names in
`agent.__all__` is internal and may change without notice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.api.accounts import Accounts
from agent.browser.pool import ContextPool
from agent.core.errors import ConfigError
from agent.core.settings import Settings, load_config
from agent.gates.policy import Policy

# The engine, the recipe model and the store are imported where they are first needed, so
# that a read-only command (`aijia runs list`) does not pay for loading them.
if TYPE_CHECKING:
    from datetime import timedelta

    from playwright.async_api import Browser, Playwright

    from agent.browser.login import SessionManager
    from agent.engine.reconcile import Reconciled
    from agent.engine.result import ProgressCallback, RunResult
    from agent.gates.decide import Decision, GateView
    from agent.gates.identity import Identity
    from agent.gates.recorder import OnCreated
    from agent.recipes.model import Recipe
    from agent.schedule.daemon import Log, Scheduler, ScheduleView
    from evidence.api import RunRecord
    from evidence.bundle import ExportResult
    from evidence.gates import CaseRecord
    from evidence.prune import PruneResult
    from evidence.schedules import Fire
    from evidence.store import EvidenceStore
    from evidence.verify import VerifyReport

__all__ = ["AsyncAijia"]


def _name(who: str | Identity) -> str:
    """The user name of `as_user` (a plain name or a proven Identity)."""
    return who if isinstance(who, str) else who.user


class AsyncAijia(Accounts):
    """Aijia for asyncio code. One Chromium (launched on first use) and one evidence store
    are shared by every run of this object; `close()` (or `async with`) releases them."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: EvidenceStore | None = None,
        browser: Browser | None = None,
    ) -> None:
        """`store` and `browser` are opened from `settings` when not given; given ones are
        the caller's to close."""
        self.settings = settings
        # account roles (in the store) win over policy.users: read at each decision
        self.policy = Policy(settings.policy, accounts=lambda: self.store.account_roles())
        self._store, self._own_store = store, store is None
        self._browser, self._own_browser = browser, browser is None
        self._playwright: Playwright | None = None
        self._launching: asyncio.Lock | None = None
        self._session_manager: SessionManager | None = None

    @classmethod
    def from_config(cls, path: str | Path | None = None, **options: Any) -> AsyncAijia:
        """Load config.yaml (`path`, else $AIJIA_CONFIG, else ./config.yaml)."""
        return cls(load_config(Path(path) if path is not None else None), **options)

    # ------------------------------------------------------------------ resources

    @property
    def store(self) -> EvidenceStore:
        """The evidence store (read it freely; runs and decisions write through this API)."""
        if self._store is None:
            from evidence.store import EvidenceStore

            self._store = EvidenceStore.open(self.settings)
        return self._store

    async def _chromium(self, headed: bool = False) -> Browser | None:
        """The shared Chromium (launched on first use, again if it died); None for a headed
        run of our own (it opens a window of its own)."""
        if not self._own_browser:
            return self._browser  # the caller's: theirs to launch headed or not
        if headed:
            return None
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        self._launching = self._launching or asyncio.Lock()
        async with self._launching:
            if self._browser is None or not self._browser.is_connected():
                from playwright.async_api import async_playwright

                from agent.browser.launch import launch

                if self._playwright is None:
                    self._playwright = await async_playwright().start()
                self._browser = await launch(self._playwright, self.settings.browser)
        return self._browser

    @property
    def _sessions(self) -> SessionManager:
        """Saved logins, shared by every run of this object (one login per site and account)."""
        if self._session_manager is None:
            from agent.browser.login import SessionManager

            self._session_manager = SessionManager(self.settings)
        return self._session_manager

    async def close(self) -> None:
        """Close what this object opened (browser, store); safe to call twice."""
        if self._own_browser and self._browser is not None:
            browser, self._browser = self._browser, None
            await browser.close()
        if self._playwright is not None:
            playwright, self._playwright = self._playwright, None
            await playwright.stop()
        if self._own_store and self._store is not None:
            store, self._store = self._store, None
            store.close()

    async def __aenter__(self) -> AsyncAijia:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ recipes

    def recipe(self, name: str | Path | Recipe, site: str | None = None) -> Recipe:
        """A recipe by name (from the site's recipe folder), by path, or as given."""
        from agent.engine.setup import recipe_folder
        from agent.recipes.model import Recipe, find_recipe, load_recipe

        if isinstance(name, Recipe):
            return name
        folder = recipe_folder(self.settings, site)
        return load_recipe(find_recipe(str(name), folder, settings=self.settings))

    async def check_run(
        self,
        recipe: str | Path | Recipe,
        rows: Sequence[Mapping[str, Any]],
        *,
        as_user: str | Identity,
        site: str | None = None,
        numbered: bool = True,
    ) -> Recipe:
        """Refuse now what `run`/`run_batch` would refuse, without running or recording
        anything: PolicyError when the user may not run the recipe, else InputError listing
        (up to 20 of) the invalid rows. `numbered=False` for one row typed as `k=v` pairs,
        where "row 1" would mislead. Returns the recipe."""
        from agent.engine.batch import refuse_bad_rows

        chosen = self.recipe(recipe, site)
        self.policy.check_may_run(_name(as_user), chosen.name)
        refuse_bad_rows(chosen, rows, numbered=numbered)
        return chosen

    # ------------------------------------------------------------------ runs

    async def run(
        self,
        recipe: str | Path | Recipe,
        inputs: Mapping[str, Any] | None = None,
        *,
        as_user: str | Identity,
        site: str | None = None,
        case: str | None = None,
        dry_run: bool = False,
        headed: bool = False,
        row: int | None = None,
        on_created: OnCreated | None = None,
    ) -> RunResult:
        """Run a recipe as `as_user`: to its gate (paused), to the end (done) or a failure.

        PolicyError when the user may not run it; InputError, SecretError, ConfigError
        before anything starts. A gate that policy approves by itself is committed at once.
        `on_created(run_record)` is called as soon as the run exists (schedulers link rows).
        """
        return await self._run(
            recipe,
            inputs,
            as_user=as_user,
            site=site,
            case=case,
            dry_run=dry_run,
            headed=headed,
            row=row,
            on_created=on_created,
        )

    async def _run(
        self,
        recipe: str | Path | Recipe,
        inputs: Mapping[str, Any] | None = None,
        *,
        as_user: str | Identity,
        site: str | None = None,
        case: str | None = None,
        dry_run: bool = False,
        headed: bool = False,
        row: int | None = None,
        on_created: OnCreated | None = None,
        pool: ContextPool | None = None,
    ) -> RunResult:
        from agent.engine.lifecycle import auto_approve
        from agent.engine.prepare import run_recipe
        from agent.engine.setup import plan_run
        from agent.gates.identity import as_identity
        from agent.gates.recorder import GateRecorder

        chosen = self.recipe(recipe, site)
        self.policy.check_may_run(_name(as_user), chosen.name)
        recorder = GateRecorder(
            self.store,
            self.settings,
            _name(as_user),
            policy=self.policy,
            on_created=on_created,
            proof=as_identity(as_user).proof,
        )
        # site, inputs and every secret are checked before a browser starts
        plan = plan_run(
            chosen, inputs or {}, settings=self.settings, store=recorder, site=site, row=row
        )
        from agent.steps.agent_task import needs_cdp

        # a recipe with an `agent` step runs in a Chromium of its own with a loopback DevTools
        # port (docs/ai.md, "The agent step"), never in the shared one: like a headed run
        browser = await self._chromium(headed or needs_cdp(chosen))
        result = await run_recipe(
            chosen,
            inputs or {},
            plan=plan,
            settings=self.settings,
            store=recorder,
            browser=browser,
            dry_run=dry_run,
            headed=headed,
            site=site,
            case_id=case,
            row=row,
            sessions=self._sessions,
            pool=pool,
        )
        return await auto_approve(result, chosen, recorder, browser=browser)

    async def run_batch(
        self,
        recipe: str | Path | Recipe,
        rows: Sequence[Mapping[str, Any]],
        *,
        as_user: str | Identity,
        site: str | None = None,
        concurrency: int = 4,
        on_result: ProgressCallback | None = None,
        case: str | None = None,
        dry_run: bool = False,
        headed: bool = False,
    ) -> list[RunResult]:
        """One run per row, `concurrency` browser contexts at a time, results in row order.

        Every row is checked first: one invalid row refuses the batch (InputError listing
        them) before any browser starts. A failing row never stops the others.
        """
        from agent.engine.batch import run_rows
        from agent.engine.setup import site_name_for

        chosen = await self.check_run(recipe, rows, as_user=as_user, site=site)
        site_name = site_name_for(chosen, self.settings, site)

        pool = ContextPool()  # read-only recipes reuse one context per worker

        async def one(number: int, row: Mapping[str, Any]) -> RunResult:
            return await self._run(
                chosen,
                row,
                as_user=as_user,
                site=site_name,
                case=case,
                dry_run=dry_run,
                headed=headed,
                row=number,
                pool=pool,
            )

        try:
            return await run_rows(
                chosen,
                site_name,
                rows,
                one,
                concurrency=concurrency,
                on_result=on_result,
                dry_run=dry_run,
            )
        finally:
            await pool.close()

    async def open_case(
        self, case_id: str, *, channel: str, ask: str = "", customer: str | None = None
    ) -> CaseRecord:
        """Open a customer's case (what they asked, where); runs with `case=` belong to it."""
        return self.store.open_case(case_id, channel=channel, ask=ask, customer=customer)

    # ------------------------------------------------------------------ gates

    async def pending_gates(
        self, user: str | None = None, *, action: str | None = None
    ) -> list[GateView]:
        """Gates waiting for a decision, oldest first; with `user`: only those this user may
        approve and has not approved yet."""
        from agent.engine.lifecycle import repair_done_gates
        from agent.gates.decide import gate_view

        repair_done_gates(self.store)  # a done run's gate left approved (an old store)
        views = [
            gate_view(self.store, self.policy, g.gate_id)
            for g in self.store.list_gates(state="pending")
        ]
        views = [v for v in views if action is None or v.gate.action == action]
        if user is not None:
            views = [v for v in views if user in v.approvers and user not in v.approved_by]
        return views

    async def gate(self, gate_id: str, *, verify: bool = True) -> GateView:
        """One gate as a reviewer sees it: binds, who asked, what policy requires, drift,
        the retry schedule of an approved run, and (`problems`) what in it the run's
        evidence chain does not back. `verify=False` skips that check (no `problems`): for
        polling a run's progress, never for deciding (approve and resume verify anyway)."""
        from agent.gates.decide import gate_view

        return gate_view(self.store, self.policy, gate_id, verify=verify)

    async def approve(self, gate_id: str, *, as_user: str | Identity, note: str = "") -> Decision:
        """Record `as_user`'s approval of the gate's exact binds (PolicyError/GateError when
        refused; EvidenceError when the run's evidence does not verify: nothing recorded).
        `decision.complete`: every approval needed is in; `resume` commits. The approval
        records how `as_user` was proven (a plain name: "api")."""
        from agent.gates.decide import approve_gate
        from agent.gates.identity import as_identity
        from agent.gates.notify import notify_decision, notify_expiry
        from agent.gates.trust import require_verified

        who = as_identity(as_user)
        require_verified(self.store, self.store.get_gate(gate_id).run_id)
        with notify_expiry(self.store, self.settings, self.policy, gate_id):
            decision = approve_gate(
                self.store, self.policy, gate_id, user=who.user, note=note, proof=who.proof
            )
        notify_decision(self.store, self.settings, self.policy, decision)  # never raises
        return decision

    async def reject(self, gate_id: str, *, as_user: str | Identity, reason: str) -> Decision:
        """Reject the gate: the run closes as rejected, nothing is committed."""
        from agent.gates.decide import reject_gate
        from agent.gates.identity import as_identity
        from agent.gates.notify import notify_decision

        who = as_identity(as_user)
        decision = reject_gate(
            self.store, self.policy, gate_id, user=who.user, reason=reason, proof=who.proof
        )
        notify_decision(self.store, self.settings, self.policy, decision)  # to the requester
        return decision

    async def resume(self, run_id: str, *, as_user: str | Identity) -> RunResult:
        """Commit an approved run once: prepare again, re-check the binds, commit. Drift
        pauses it again at a new gate (state paused, pause_reason "drift"). A site down
        before anything was sent keeps it approved (pause_reason "retry", exit code 4).
        GateError while another process holds its commit lease; EvidenceError (nothing
        sent) when its evidence does not verify."""
        from agent.engine.lifecycle import approved_gate, commit_approved, repair_done_gates
        from agent.gates.recorder import GateRecorder, recipe_of

        self.policy.check_known(_name(as_user), "resume runs")
        repair_done_gates(self.store, run_id)
        gate = approved_gate(self.store, run_id, self.settings)
        recipe = recipe_of(self.store.get_run(run_id), self.settings)
        recorder = GateRecorder(self.store, self.settings, _name(as_user), policy=self.policy)
        return await commit_approved(gate, recipe, recorder, browser=await self._chromium())

    async def reconcile(self, run_id: str, *, as_user: str | Identity) -> Reconciled:
        """Settle an in_doubt run by reading the back office for the agent's own action (its
        reference); never retries the action. GateError when it cannot tell (the run stays
        in_doubt) or while a live committer holds the run's lease."""
        from agent.engine.reconcile import settle_in_doubt

        self.policy.check_known(_name(as_user), "reconcile runs")
        return await settle_in_doubt(
            run_id,
            user=_name(as_user),
            settings=self.settings,
            store=self.store,
            browser=await self._chromium(),
            sessions=self._sessions,
        )

    async def close_run(self, run_id: str, *, as_user: str | Identity, reason: str) -> RunRecord:
        """Close an approved or in_doubt run as failed (the back office refused it, or a
        person settled it by hand): its gate expires, `run_closed` records who and why.
        PolicyError unless `as_user` is a supervisor or may approve its gate (never the
        initiator); GateError in another state or while its lease is held."""
        from agent.engine.lifecycle import close_run

        return close_run(
            self.store, self.settings, self.policy, run_id, user=_name(as_user), reason=reason
        )

    # ------------------------------------------------------------------ evidence

    async def verify(self, run_ids: Sequence[str] | None = None) -> VerifyReport:
        """Recompute chains, artifact hashes and manifests (all runs when None)."""
        return self.store.verify(list(run_ids) if run_ids else None)

    async def export(
        self,
        output: str | Path,
        run_ids: Sequence[str] = (),
        *,
        case: str | None = None,
        platform: str | None = None,
        max_file_mb: float | None = None,
        max_total_mb: float | None = None,
    ) -> ExportResult:
        """Write a bundle anyone can verify offline; `platform` also fits an upload/ folder
        to stripe, paypal, amazon or shopee limits."""
        from evidence.bundle import export_bundle, resolve_runs
        from evidence.profiles import get_profile

        profile = (
            get_profile(platform, max_file_mb=max_file_mb, max_total_mb=max_total_mb)
            if platform
            else None
        )
        chosen = resolve_runs(self.store, list(run_ids), case)
        return export_bundle(self.store, chosen, Path(output), profile=profile)

    async def prune(
        self, older_than: timedelta, *, dry_run: bool = False, reason: str = ""
    ) -> PruneResult:
        """Remove whole finished runs older than `older_than` that no open case or live gate
        needs (each removal logged with its sealed hashes); `dry_run` only says which."""
        return self.store.prune(older_than, dry_run=dry_run, reason=reason)

    # ------------------------------------------------------------------ schedules

    def scheduler(self, *, log: Log | None = None) -> Scheduler:
        """The built-in scheduler over this object's store and browser."""
        from agent.schedule.daemon import Scheduler

        return Scheduler(self, log=log) if log is not None else Scheduler(self)

    async def schedules(self) -> list[ScheduleView]:
        """Every schedule with its next fire time and last outcome."""
        return self.scheduler().views()

    async def trigger(self, name: str, *, log: Log | None = None) -> Fire:
        """Fire one schedule once, now (a manual slot), in this process. ConfigError when
        runs.backend is temporal: `agent.backends.trigger_on_temporal` fires it on a worker."""
        self._refuse_on_temporal("a schedule's fire", "agent.backends.trigger_on_temporal")
        return await self.scheduler(log=log).trigger(name)

    async def serve_schedules(
        self, stop: asyncio.Event | None = None, *, log: Log | None = None
    ) -> None:
        """The scheduler daemon, until `stop` is set (SIGTERM/SIGINT in the CLI).
        ConfigError when runs.backend is temporal: Temporal fires the schedules there."""
        self._refuse_on_temporal("the scheduler daemon", "`aijia schedule sync`")
        await self.scheduler(log=log).serve(stop)

    def _refuse_on_temporal(self, what: str, instead: str) -> None:
        """ConfigError: on the temporal backend Temporal fires schedules, on workers (two
        firers would race for every slot, and rows would run outside run workflows)."""
        if self.settings.runs.backend == "temporal":
            raise ConfigError(
                f"runs.backend is temporal: Temporal fires the schedules, not {what} here",
                hint=f"use {instead}: `aijia schedule sync` puts config.yaml's schedules in "
                "Temporal (again after every change), `aijia worker`s run their fires",
            )
