"""Names of the models and backends, importable without numba (the CLIs check their
arguments before they load any numerics)."""

#: every model ``diaglin.get_model`` knows.
MODEL_NAMES = ("ww", "uv", "pm", "prod", "power")
#: the models that take a ``depth`` option.
DEPTH_MODELS = ("prod", "power")
#: where ``run_gd`` runs: Numba kernels on the CPU, or numba.cuda kernels on an NVIDIA GPU
BACKENDS = ("cpu", "cuda")
