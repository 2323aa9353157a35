"""``python -m sims.eta_c_curves``."""

import sys

from sims.eta_c_curves.cli import main

sys.exit(main())
