"""AI steps' foundation: one LLM client, per-run budgets, evidence of every call.

| module    | what                                                                    |
| --------- | ----------------------------------------------------------------------- |
| llm.py    | `LLM`: an OpenAI-compatible chat endpoint through langchain-openai       |
| data.py   | how page content is fenced as data, never as instructions               |
| budget.py | tokens and cost one run may spend; checked before and after each call   |
| record.py | the `llm_call` evidence event: prompt, answer, tokens, cost, duration   |
| fields.py | an `ai_extract` schema -> JSON Schema, and the answer -> checked values |

langchain and langchain-openai are the optional `ai` extra: they are imported inside the
calls only, so everything that is not an AI step works without them (and without an LLM).
What the model may never do (docs/ai.md): approve, see a secret, or act outside a gate — it
only returns text or values that the recipe's own steps check and use.
"""
