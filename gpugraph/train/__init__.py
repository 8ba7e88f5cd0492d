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
from gpugraph.train.saver import Saver, export_meta_graph, import_meta_graph  # noqa: F401,E402
from gpugraph.train.learning_rate_decay import (  # noqa: F401,E402
    exponential_decay, inverse_time_decay, natural_exp_decay, piecewise_constant, polynomial_decay)
from gpugraph.train.optimizer import Optimizer  # noqa: F401,E402
from gpugraph.train.optimizers import (  # noqa: F401,E402
    AdagradOptimizer, AdamOptimizer, GradientDescentOptimizer, MomentumOptimizer, RMSPropOptimizer)
from gpugraph.train.training_util import (  # noqa: F401,E402
    assert_global_step, create_global_step, get_global_step, get_or_create_global_step, global_step)
