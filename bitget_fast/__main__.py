"""``python -m bitget_fast`` is the ``bitget-fast`` command."""

import sys

from .cli import main

sys.exit(main())
