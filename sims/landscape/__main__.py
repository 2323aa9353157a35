"""``python -m sims.landscape {exact,pca,mlp}``."""

import sys

from sims.landscape.cli import main

sys.exit(main())
