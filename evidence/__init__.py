"""The evidence store: runs, events, artifacts, gates and approvals, hash-chained per run."""
