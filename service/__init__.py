"""tinyserve's HTTP service: loads artifacts from the model store and serves predictions."""

__version__ = "0.2.0"
