"""`aijia serve`: the review console and the commit worker in one process.

    agent/serve/session.py   signed session cookies (Starlette's SessionMiddleware, itsdangerous),
                             who is signed in (a personal token minted at sign-in), CSRF tokens
    agent/serve/app.py       `build_app(aijia)`: the Starlette app (routes, templates, security)
    agent/serve/oidc.py      optional OpenID Connect sign-in (Authlib), `console.oidc`
    agent/serve/templates/   Jinja2 pages, autoescaped (every seller string is shown as text)

The console calls the facade (`agent.AsyncAijia`) and nothing below it for decisions, so
every rule (roles, thresholds, two approvers, the initiator never approves, expiry, verify
before acting) holds exactly as in the CLI. The commit worker is
`agent.schedule.worker.CommitWorker` (shared with the scheduler daemon).
"""
