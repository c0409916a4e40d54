"""Shared neural building blocks: features, transformer, conv, quantizers, losses."""
