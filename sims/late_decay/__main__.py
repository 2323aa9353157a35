"""``python -m sims.late_decay``."""

import sys

from sims.late_decay.cli import main

sys.exit(main())
