"""`python -m jaxtrade` runs the command line."""

import sys

from jaxtrade.cli import main

sys.exit(main())
