"""Text models on the speech core's blocks: a BPE tokenizer with bos/eos (`tokenizer`), a Transformer
encoder-decoder and a decoder-only LM (`models`, registered for asr.checkpoint), and their decoders:
greedy, beam, diverse beam and input-guided aggressive decoding (`decoding`).
"""
