"""Batched gradient-descent kernels. Both share one contract (see ``tile.gd_tiles``)."""
