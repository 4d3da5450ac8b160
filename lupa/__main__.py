"""``python -m lupa``: the ``lupa`` command."""

import sys

from lupa.cli.main import main

sys.exit(main())
