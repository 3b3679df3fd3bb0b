"""Replies to buyers: per-channel rules, knowledge files, templated drafts and their checker.

| module       | what                                                                 |
| ------------ | -------------------------------------------------------------------- |
| channels.py  | the rules of each channel (length, links, emoji, tone, email shape)   |
| knowledge.py | knowledge/*.md with front matter (id, owner, version, review_by)      |
| draft.py     | intents and the per-channel Jinja templates (templates/<lang>/) → Draft |
| check.py     | refuses a draft that breaks its channel's rules; finds promises       |

The `draft_reply` step (agent/steps/reply.py) ties them together. No LLM is needed here; an
LLM rewrite (later) is checked by the same checker.
"""
