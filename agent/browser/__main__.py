"""`python -m agent.browser`: print the Chromium Aijia would use; exit 1 when there is none.

The Makefile uses it to decide whether to install a browser.
"""

import sys

from agent.browser.launch import find_browser
from agent.core.errors import BrowserError
from agent.core.settings import load_config

try:
    print(find_browser(load_config().browser).executable or "playwright")
except BrowserError as err:
    print(err, file=sys.stderr)
    sys.exit(1)
