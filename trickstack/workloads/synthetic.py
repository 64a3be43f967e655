"""The ``synthetic`` workload: runs simulated from a study's ``[synthetic]`` truth, no training.

Defined (and registered) in `trickstack.testing.synthetic`; this module lets
``get_workload("synthetic")`` load it by name like the built-in workloads.
"""

from trickstack.testing.synthetic import SYNTHETIC, simulate_run  # noqa: F401  (importing registers it)
