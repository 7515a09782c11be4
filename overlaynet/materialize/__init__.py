"""The kernel cross-check: apply a dataplane IR to real network namespaces, probe them,
and compare what the kernel does with what the tracer says (``verify``)."""

from overlaynet.materialize.apply import Materialized, Skipped, materialize
from overlaynet.materialize.naming import list_namespaces, new_run_id, remove_run

__all__ = ["Materialized", "Skipped", "list_namespaces", "materialize", "new_run_id", "remove_run"]
