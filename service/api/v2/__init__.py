"""The Open Inference Protocol (KServe V2 REST, with Triton's binary tensor data extension)."""
