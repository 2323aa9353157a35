"""Small nonlinear networks with exact derivatives: fully connected (1–3 hidden layers) and
convolutional (3×3 convolutions and a linear head); tanh, ReLU, softplus, GELU or linear
activations; MSE or softmax cross-entropy; NTK or μP parameterisation; optional biases.

``Network`` is a model like the diagonal ones: ``run_gd(net, X, y, etas, net.init(alpha))``,
``sharpness(net, theta, X, y)``, ``hessian(net, theta, X, y)``.
"""

from diaglin.nets.activations import ACTIVATIONS
from diaglin.nets.arch import ARCHITECTURES, PARAMETERISATIONS
from diaglin.nets.losses import LOSSES
from diaglin.nets.model import Network, cnn, mlp

__all__ = ["ACTIVATIONS", "ARCHITECTURES", "LOSSES", "PARAMETERISATIONS", "Network", "cnn", "mlp"]
