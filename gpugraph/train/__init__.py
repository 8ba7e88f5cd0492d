"""``gpugraph.train``: checkpoints (V2 bundles and the ``checkpoint`` state file), and — as they land —
Saver, MetaGraph export/import and optimizers, with ``tf.compat.v1.train``'s names.

Example:
    >>> prefix = tf.train.latest_checkpoint("runs/model")                       # doctest: +SKIP
    >>> tf.train.list_variables(prefix)                                         # doctest: +SKIP
    [('dense/bias', [10]), ('dense/kernel', [784, 10])]
"""

from gpugraph.train.checkpoint_management import (  # noqa: F401
    checkpoint_exists, generate_checkpoint_state_proto, get_checkpoint_mtimes, get_checkpoint_state,
    latest_checkpoint, remove_checkpoint, update_checkpoint_state)
from gpugraph.train.checkpoint_utils import (  # noqa: F401
    NewCheckpointReader, list_variables, load_checkpoint, load_variable)
