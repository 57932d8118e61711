"""``python -m caffefill.cli``."""

import sys

from .app import main

sys.exit(main())
