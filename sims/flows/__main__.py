"""``python -m sims.flows``."""

import sys

from sims.flows.cli import main

sys.exit(main())
