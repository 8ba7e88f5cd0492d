"""``gpugraph.compat.v1`` is gpugraph itself, so ``tf.compat.v1.placeholder`` works after
``import gpugraph as tf``."""

import sys as _sys


def __getattr__(name):
    if name in ("v1", "v2"):
        return _sys.modules["gpugraph"]
    raise AttributeError(name)
