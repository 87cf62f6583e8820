"""``python -m cachepoint.core.cli`` runs the ``cachepoint`` command."""

import sys

from cachepoint.core.cli import main

sys.exit(main())
