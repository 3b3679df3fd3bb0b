"""The evidence store: runs, events, artifacts, gates and approvals, hash-chained per run.

api.py         the Protocol the runner writes through (EvidenceSink) and its records
store.py       EvidenceStore: SQLite (WAL) + content-addressed files; open with
               EvidenceStore.open(settings)
pg/           the rows on PostgreSQL (evidence.database): an adapter, the schema, the dialect
transaction.py one write transaction (`with store.transaction() as tx:`): runs, events,
               gates, approvals composed all or nothing
queries.py     the reading side: runs, events, manifests, artifacts, verify
gates.py       cases, gates and approvals
events.py      typed trail events (the six questions) validated on append
migrations.py  the schema as an ordered list of migrations
hashing.py     canonical JSON and the chain rule
manifest.py    a run's manifest and root hash
verify.py      recompute everything, name the first broken link
files.py       content-addressed files (atomic, deduplicated, read-only)
artifacts.py   masking of artifact bytes by media type (text, MHTML, traces)
redaction.py   registered secrets and text patterns
capture.py     screenshots (format, thumbnail, annotation) and the capture policy
dom.py         DOM snapshots with password values and selectors blanked
timeline.py    events as a readable timeline, the six questions answered
report.py      the HTML report (templates/report.html.j2)
bundle.py      export a verifiable zip; profiles.py fits it to upload limits
verify_bundle.py  the standard-library-only verifier shipped inside every bundle
prune.py       retention of whole runs, logged
"""
