"""``python -m sims.theory_picture``."""

import sys

from sims.theory_picture.cli import main

sys.exit(main())
