"""Numeric precision helpers shared by the models."""

import torch


def at_least_fp32(x):
    """x in fp32, or as it is when already fp64: half precisions (bf16 autocast) are lifted where
    statistics or distances need it, while a float64 computation (the exact encoder of a streamable
    codec, see DualCodec.exact_encoder) stays float64 end to end."""
    return x if x.dtype == torch.float64 else x.float()


__all__ = ["at_least_fp32"]
