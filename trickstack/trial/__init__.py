"""One trial: a stack of tricks trained on a workload under a fixed budget, and its run record."""
