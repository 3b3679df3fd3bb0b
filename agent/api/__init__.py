"""The public facade: `AsyncAijia` (async_api.py) and its generated sync twin `Aijia`
(sync_api.py, written by generate_sync.py). Import them from `agent`."""
