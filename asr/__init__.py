"""transduce's model core: audio, features, tokenizers, neural blocks, encoders, heads, losses,
decoding, training, checkpoints and the Python API. Knows nothing of gRPC."""
