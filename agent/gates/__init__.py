"""Permission gates: who may do what, and deciding a paused action exactly once.

policy.py     config.yaml `policy:` as rules: run rights, approvers, thresholds, auto-approval
recorder.py   the evidence sink a run writes through: records the initiator and each gate
              with what policy requires
decide.py     approve (maybe one of two), reject, expire: each once, in one transaction
notify.py     tell a webhook that a gate opened (never fatal)
"""
