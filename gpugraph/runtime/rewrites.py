"""Which plan rewrites a session applies, from its ``ConfigProto`` and the environment.

A TF1 script turns graph rewrites off through ``config.graph_options.rewrite_options`` (TensorFlow's
``RewriterConfig``); gpugraph reads the same fields for its own passes:

==========================  =============================================  =========================
rewrite                     RewriterConfig                                 environment (process)
==========================  =============================================  =========================
``fusion``                  ``remapping`` (optimizer name ``"remap"``)     ``GPUGRAPH_FUSION``
``dead_steps``              ``dependency_optimization`` (``"dependency"``) —
``grouped_updates``         —                                              ``GPUGRAPH_GROUPED_UPDATES``
``cuda_graphs``             —                                              ``GPUGRAPH_CUDA_GRAPHS``
==========================  =============================================  =========================

- ``fusion``: Conv2D/MatMul → BiasAdd → Relu in place on the CPU (:mod:`gpugraph.runtime.cpu_fusion`)
  and elementwise chains as one kernel on a GPU (:mod:`gpugraph.runtime.cuda.fusion_pass`).
- ``dead_steps``: pure steps that nothing reads are skipped (:func:`gpugraph.runtime.plan.unread_pure_steps_kept`).
- ``grouped_updates``: an optimizer's updates run as one multi-tensor update
  (:mod:`gpugraph.runtime.grouped_updates`).
- ``cuda_graphs``: single-GPU plans are captured and replayed (:mod:`gpugraph.runtime.cuda.graphs`).
  Not a graph rewrite, so ``disable_meta_optimizer`` leaves it alone.
- ``max_folded_constant_bytes``: the largest value a plan computes at compile time and keeps
  (constant folding); ``graph_options.optimizer_options.max_folded_constant_in_bytes``, 0 meaning
  TensorFlow's default of 10 MiB.

A rewrite runs unless something turns it off: its toggle set to ``OFF``; a non-empty ``optimizers``
list that does not name it (TensorFlow then runs only the listed optimizers); ``disable_meta_optimizer``
(all three graph rewrites); or its environment variable set to 0/false/off/no. Every switch is read
when a plan is compiled, i.e. on the first run of each fetch/feed signature. The other
``RewriterConfig`` fields are kept in the ``ConfigProto`` but not acted on.

Example:
    >>> from gpugraph.protos import config_pb2, rewriter_config_pb2
    >>> config = config_pb2.ConfigProto()
    >>> config.graph_options.rewrite_options.remapping = rewriter_config_pb2.RewriterConfig.OFF
    >>> PlanRewrites.from_config(config).fusion
    False
"""

import dataclasses
import os

from gpugraph.protos import rewriter_config_pb2

FUSION_ENV = "GPUGRAPH_FUSION"
GROUPED_UPDATES_ENV = "GPUGRAPH_GROUPED_UPDATES"
CUDA_GRAPHS_ENV = "GPUGRAPH_CUDA_GRAPHS"
_OFF_WORDS = ("0", "false", "off", "no")
_OFF = rewriter_config_pb2.RewriterConfig.OFF
# Largest value a plan folds at compile time: TensorFlow's constant folding default, and what
# OptimizerOptions.max_folded_constant_in_bytes = 0 means.
DEFAULT_MAX_FOLDED_CONSTANT_BYTES = 10 << 20


def env_allows(var):
    """False when environment variable ``var`` is 0, false, off or no (any case); True otherwise."""
    return os.environ.get(var, "1").strip().lower() not in _OFF_WORDS


@dataclasses.dataclass(frozen=True)
class PlanRewrites:
    """The rewrites a plan gets. ``PlanRewrites()`` is everything on; :meth:`from_config` is what a
    session uses."""
    fusion: bool = True
    dead_steps: bool = True
    grouped_updates: bool = True
    cuda_graphs: bool = True
    max_folded_constant_bytes: int = DEFAULT_MAX_FOLDED_CONSTANT_BYTES

    @classmethod
    def from_config(cls, config=None):
        """The rewrites for a session with ``config`` (a ``ConfigProto`` or None), the environment
        included."""
        options = None
        if config is not None and config.HasField("graph_options") \
                and config.graph_options.HasField("rewrite_options"):
            options = config.graph_options.rewrite_options
        graph_rewrites = options is None or not options.disable_meta_optimizer
        listed = set(options.optimizers) if options is not None else set()

        def wanted(toggle_field, optimizer_name):
            if not graph_rewrites:
                return False
            if listed:
                return optimizer_name in listed
            return options is None or getattr(options, toggle_field) != _OFF

        max_folded = 0
        if config is not None and config.HasField("graph_options"):
            max_folded = config.graph_options.optimizer_options.max_folded_constant_in_bytes
        return cls(
            fusion=wanted("remapping", "remap") and env_allows(FUSION_ENV),
            dead_steps=wanted("dependency_optimization", "dependency"),
            grouped_updates=graph_rewrites and env_allows(GROUPED_UPDATES_ENV),
            cuda_graphs=env_allows(CUDA_GRAPHS_ENV),
            max_folded_constant_bytes=max_folded if max_folded > 0 else DEFAULT_MAX_FOLDED_CONSTANT_BYTES)
