"""``python -m jaxattr.scale {attribute,stream,batch} ...``."""

import sys

from ._cli import main

sys.exit(main())
