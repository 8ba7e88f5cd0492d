"""``python -m gpugraph.cli``: the ``gpugraph`` command."""

import sys

from gpugraph.cli import main

sys.exit(main())
