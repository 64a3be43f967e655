"""MNIST-1D's reference budget (the paper's 6,000-step CNN run, which the paper reports at ~94%
test accuracy): the baseline's accuracy over several seeds and the seconds per run, measured now.

    python -m trickstack.benchmarks.mnist1d_reference [--seeds 5]
"""

from trickstack.benchmarks.reference import main

if __name__ == "__main__":
    main(workload="mnist1d")
