"""``python -m eventkit.cli``: the ``eventkit`` command."""

import sys

from eventkit.cli import main

sys.exit(main())
