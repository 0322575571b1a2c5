"""``python -m jaxattr`` runs the command line (same as the ``jaxattr`` script)."""

import sys

from ._cli import main

sys.exit(main())
