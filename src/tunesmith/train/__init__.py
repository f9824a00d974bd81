"""Training: the loop, checkpoints and resume, run folders, multi-process with torchrun."""
