"""The protocol-free model runtime: registry, runners, dynamic batching, image pre-processing.

Nothing here knows about HTTP; /v1 and later protocols are thin adapters over it.
"""
