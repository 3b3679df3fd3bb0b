"""Running recipes: a run is built once and driven through its phases.

setup.py      build a run once (site, inputs, secrets; browser context, guard, evidence)
context.py    `RunContext`: all a step may touch (page, values, evidence, secrets)
execute.py    running a list of steps: events, retries, replay from the last goto
prepare.py    a first run: the prepare phase, to the gate (paused) or the end (done)
commit.py     resume an approved run: prepare again, re-verify the binds, commit once
reconcile.py  settle an in-doubt run by reading the back office, never retrying
lifecycle.py  after the gate: policy's own approvals, resume checks, the commit's gate fate
batch.py      many rows: check them all first, run a few at a time, the overall exit code
result.py     `RunResult` and `GateInfo`, what a run gives back
secrets.py    resolve every secret a run will type before any browser starts

Internal: start runs through the facade (`agent.Aijia`), which applies policy first.
"""
