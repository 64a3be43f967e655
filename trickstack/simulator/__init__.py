"""The simulator: a ``synthetic`` workload whose runs are drawn from a known truth, in microseconds.

A product feature, not a test helper: `trickstack plan` (`trickstack.ablations.plan`) and
`recipe derive --synthetic` use it to show what a study can find before anything is trained.
"""
