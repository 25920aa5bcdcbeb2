"""The `transduce` subcommands that run models: `transcribe`, `demo`, `evaluate` and `train` (its dev
set is validated through the streaming path). All of them decode through this layer's Session,
batched step and `transcripts.decode_batch`, the path the gRPC service runs."""
