"""Backend-agnostic information-bottleneck math on `keras.ops` (no layers here)."""
