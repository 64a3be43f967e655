"""The tricks SDK: what a trick plugin (``algorithms/<name>/`` or a third-party package) may use.

The registry (`register_trick`, metadata, stacking rules), the parameter type, and helpers for
tricks that change the model (`surgery`) or the optimizer (`optimizers`).
"""
