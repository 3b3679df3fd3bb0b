"""The commit worker: commits approved runs, once each, with the site secrets the approver
never needs (`aijia serve`; also inside `aijia schedule run`).

    worker = CommitWorker(aijia, log=log)          # an AsyncAijia; user = worker.user
    await worker.sweep()                           # one pass (tests, the scheduler's tick)
    worker.kick()                                  # look now: the console just approved
    await worker.serve(stop)                       # every worker.poll_s, or when kicked

One pass, in order:
1. gates past their expiry are closed, with their notice (`expire_overdue_gates`);
2. runs left `committing` by a committer whose lease lapsed (it died after the request was
   released, or before) are settled through reconcile, which reads the back office for the
   agent's own reference: found, done; not there, approved again (and committed below);
   cannot tell, `in_doubt` for a person;
3. approved runs are committed through `AsyncAijia.resume`, once each (the commit lease and
   the run's state make a second worker, or an approver's own resume, a no-op), except
   those whose last attempt found the site down and whose retry time has not come.

Every action goes through the facade as `worker.user`, so the policy, the evidence checks
before acting and the notices are the CLI's. A failure of one run is logged and the pass
goes on; nothing here raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.core.errors import AgentError
from agent.core.states import RunState
from agent.engine.lifecycle import expire_overdue_gates
from agent.gates.decide import parse_time
from agent.gates.recorder import retries_since_approval
from evidence.ids import iso

if TYPE_CHECKING:
    from agent.api.async_api import AsyncAijia

Clock = Callable[[], datetime]
Log = Callable[..., None]  # log(event, **fields)


def utc_clock() -> datetime:
    return datetime.now(UTC)


def _quiet(event: str, **fields: Any) -> None:
    return None


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0]


class CommitWorker:
    def __init__(
        self,
        aijia: AsyncAijia,
        *,
        user: str | None = None,
        wait_s: float = 0.0,
        sweep: bool = True,
        log: Log = _quiet,
        clock: Clock = utc_clock,
    ) -> None:
        """`wait_s`: an approved run is left alone this long after its last change (the
        scheduler leaves the approver's own `aijia approve` the first go); `sweep`: also
        close overdue gates and settle runs left committing."""
        self.aijia, self.store = aijia, aijia.store
        self.user = user or aijia.settings.worker.user
        self.wait_s, self.sweeping, self.log, self.clock = wait_s, sweep, log, clock
        self.stop = asyncio.Event()
        self._kicked = asyncio.Event()
        self._lock = asyncio.Lock()  # one pass at a time in this process
        self.passes = 0  # passes finished (a console's status, a test waiting for one)

    def kick(self) -> None:
        """Look now rather than at the next poll (after an approval in the console)."""
        self._kicked.set()

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    async def sweep(self, now: datetime | None = None) -> None:
        """One pass (see the module docstring); waits for a pass already under way."""
        async with self._lock:
            try:
                await self._sweep(now or self.clock())
            finally:
                self.passes += 1

    async def _sweep(self, now: datetime) -> None:
        settings = self.aijia.settings
        if self.sweeping:
            for gate_id in expire_overdue_gates(self.store, settings, self.aijia.policy, now=now):
                self.log("gate_expired", gate_id=gate_id)
        stuck = (
            [
                r.run_id
                for r in self.store.list_runs(state=RunState.COMMITTING.value)
                if self._lease_lapsed(r.run_id, now)
            ]
            if self.sweeping
            else []
        )
        cutoff = iso(now - timedelta(seconds=self.wait_s))  # the store's own spelling
        waiting = [
            r.run_id
            for r in self.store.list_runs(state=RunState.APPROVED.value)
            if r.updated_at <= cutoff and self._retry_due(r.run_id, now)
        ]
        if waiting or stuck:
            await self._commit(waiting, stuck)

    def _lease_lapsed(self, run_id: str, now: datetime) -> bool:
        """A `committing` run nobody is committing any more: its committer's lease is gone
        or expired, and the run is still committing after that was read (a committer that
        just finished gives its lease back after the run is done: not a stuck run)."""
        lease = self.store.commit_lease(run_id)
        if lease is not None and lease.live(now):
            return False
        return self.store.get_run(run_id).state is RunState.COMMITTING

    def _approved(self, run_id: str) -> bool:
        return self.store.get_run(run_id).state is RunState.APPROVED

    def _retry_due(self, run_id: str, now: datetime) -> bool:
        """False while the run's last attempt found the site down and its next attempt
        (`policy.commit_retry_s`, recorded as `commit_retry`) is still to come."""
        retries = retries_since_approval(self.store, run_id)
        if not retries:
            return True
        try:
            return parse_time(str(retries[-1].get("next_at"))) <= now
        except ValueError:  # a retry time this version cannot read: try, rather than never
            return True

    async def _commit(self, run_ids: list[str], stuck: Sequence[str] = ()) -> None:
        for run_id in stuck:
            if self.stop.is_set():
                return
            try:
                settled = await self.aijia.reconcile(run_id, as_user=self.user)
                self.log("commit_reconciled", run_id=run_id, state=settled.state.value)
            except AgentError as exc:  # cannot tell (in_doubt), or a live committer again
                self.log("commit_not_reconciled", run_id=run_id, error=str(exc).splitlines()[0])
        if stuck:  # a run reconcile found not committed is approved again: commit it now
            run_ids = [*run_ids, *(r for r in stuck if self._approved(r))]
        for run_id in run_ids:
            if self.stop.is_set():
                return
            try:
                result = await self.aijia.resume(run_id, as_user=self.user)
            except AgentError as exc:  # someone else resumed it, or it expired: say so, go on
                self.log("approved_not_resumed", run_id=run_id, error=str(exc).splitlines()[0])
                continue
            if result.pause_reason == "retry":  # the site was down; nothing was sent
                self.log("commit_will_retry", run_id=run_id, error=_first_line(result.error))
            else:
                self.log("approved_resumed", run_id=run_id, state=result.state.value)

    async def serve(self, stop: asyncio.Event | None = None) -> None:
        """Pass after pass until `stop` (or `self.stop`) is set: every `worker.poll_s`, or at
        once when kicked. A pass that fails (the store busy too long) is logged and retried."""
        if stop is not None:
            self.stop = stop
        poll = self.aijia.settings.worker.poll_s
        self.log("worker_started", user=self.user, poll_s=poll)
        while not self.stop.is_set():
            self._kicked.clear()
            try:
                await self.sweep()
            except AgentError as exc:
                self.log("worker_pass_failed", error=str(exc).splitlines()[0])
            except Exception as exc:  # never let one pass take the worker down
                self.log("worker_pass_crashed", error=repr(exc))
            waits = [asyncio.ensure_future(e.wait()) for e in (self.stop, self._kicked)]
            await asyncio.wait(waits, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waits:
                waiter.cancel()
        self.log("worker_stopped", user=self.user)
