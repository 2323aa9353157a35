"""Names of the models, importable without numba (the CLIs check their arguments before they
load any numerics)."""

#: every model ``diaglin.get_model`` knows.
MODEL_NAMES = ("ww", "uv", "pm", "prod", "power")
#: the models that take a ``depth`` option.
DEPTH_MODELS = ("prod", "power")
