"""Methods: full, freeze and LoRA. Each marks which parameters train, and nothing else."""

from tunesmith.methods.apply import MethodSetup, apply_method, trainable_parameters

__all__ = ["MethodSetup", "apply_method", "trainable_parameters"]
