"""AI steps: tests that talk to the scripted OpenAI-compatible server (tests/ai/llm_server.py)."""
