"""`python -m symbolic.cli`: the same entry point as the `symbolic` console script."""

import sys

from symbolic.cli import main

sys.exit(main())
