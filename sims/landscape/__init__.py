"""Train and test loss landscapes around label-noise SGD paths that decay the learning rate early
or late (paper 2's pictures, spec 02 §1): the exact two-coordinate picture, the paper's PCA
method, and the same method on an MLP on digits.

- ``runs``: the SGD paths (one ``run_sgd`` call for the main run and its branches) and the
  landscapes around them; ``plotting``: the figures;
- ``cli``: ``python -m sims.landscape {exact,pca,mlp}``.

Not a sweep: each picture is one computation, saved with its config as ``.npz``.
"""

from sims.landscape.cli import build_parser, main

__all__ = ["build_parser", "main"]
