"""One trainer for every model (plain and GAN steps), DDP, AMP, checkpoints and resume."""
