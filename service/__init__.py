"""tinyserve's HTTP service: loads artifacts from the model store and serves predictions."""

__version__ = "0.1.0"
