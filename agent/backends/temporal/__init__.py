"""Runs as Temporal workflows (`runs.backend: temporal`; docs/scale.md "Runs on Temporal").

messages.py    what the client, the workflow and the activities pass each other (plain data)
workflow.py    `RunWorkflow`: prepare -> wait at the gate (signals, expiry timer) -> settle
activities.py  the engine's phases as activities (prepare, settle: expire/commit/reconcile)
worker.py      `aijia worker`: activities + the workflow for one task queue
client.py      connect, start a run's workflow (id = run id), wait for its first outcome,
               signal an approval or a rejection

temporalio is imported here only: the embedded default never needs it.
"""
