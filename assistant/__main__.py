"""`python -m assistant` runs the `mcof` command line."""

import sys

from .cli import main

sys.exit(main())
