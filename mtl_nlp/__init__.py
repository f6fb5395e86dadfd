"""mtl_nlp: one pretrained transformer encoder, many task heads, trained together with Accelerate."""

from mtl_nlp.config import RunConfig, TaskConfig
from mtl_nlp.errors import ConfigError, DataFormatError

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataFormatError", "RunConfig", "TaskConfig", "__version__"]
