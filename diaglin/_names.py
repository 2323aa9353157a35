"""Names of the models and backends, importable without numba (the CLIs check their
arguments before they load any numerics)."""

#: every model ``diaglin.get_model`` knows.
MODEL_NAMES = ("ww", "uv", "pm", "prod", "power")
#: the models that take a ``depth`` option.
DEPTH_MODELS = ("prod", "power")
#: where ``run_gd`` runs: Numba kernels on the CPU, or numba.cuda kernels on an NVIDIA GPU
BACKENDS = ("cpu", "cuda")
#: the network architectures of ``diaglin.nets`` (the sweeps' ``--model mlp`` / ``cnn``).
NET_MODELS = ("mlp", "cnn")
#: the data sets of the network sweeps: ``diaglin.data.digits`` / ``teacher_student``.
NET_DATASETS = ("digits", "teacher")
#: the networks' activations, per-sample losses and parameterisations.
NET_ACTIVATIONS = ("tanh", "relu", "softplus", "gelu", "linear")
NET_LOSSES = ("mse", "ce")
NET_PARAMS = ("ntk", "mup")
