"""Speech encoders with exact cache-aware streaming: Conformer/FastConformer and Transformer.

    enc = ConformerEncoder(ConformerConfig(...)); out, out_lens = enc(feats, lengths, lookahead=0)
    state = enc.init_state(batch_size, lookahead=i)
    out, out_lens, state = enc.stream_step(chunk, chunk_lens, state, final=False)
    first, later = enc.chunk_frames(i)      # feature frames per step for context i

ConformerConfig field -> NeMo ConformerEncoder argument (same meaning unless noted):
    feat_in, n_layers, d_model, n_heads, ff_expansion_factor, conv_kernel_size, conv_norm_type,
    subsampling ('striding' | 'dw_striding'), subsampling_factor, subsampling_conv_channels,
    causal_downsampling, att_context_size (list of [left, right]), att_context_style
    ('regular' | 'chunked_limited'), xscaling, untie_biases, dropout, dropout_pre_encoder,
    dropout_emb, dropout_att: identical names.
    conv_context_size: 'causal' | [l, r] as NeMo; NeMo's None is 'symmetric' here.
    Not mirrored: self_attention_model (always rel_pos), pos_emb_max_len (positions are computed
    from indices, no table), reduction*/stochastic depth, global tokens.
Layer module names follow NeMo's ConformerLayer (norm_feed_forward1, feed_forward1, norm_self_att,
self_attn.{linear_q,linear_k,linear_v,linear_out,linear_pos,pos_bias_u,pos_bias_v}, norm_conv,
conv.{pointwise_conv1,depthwise_conv,batch_norm,pointwise_conv2}, norm_feed_forward2,
feed_forward2, norm_out); pre_encode.conv stages are a ModuleList of Sequentials and
pre_encode.out the projection, so a checkpoint loader maps the subsampling names explicitly.
"""

from transduce.asr.encoders.config import ConformerConfig, Context, TransformerConfig
from transduce.asr.encoders.conformer import ConformerEncoder
from transduce.asr.encoders.state import EncoderState, StreamingError
from transduce.asr.encoders.transformer import TransformerEncoder

__all__ = [
    "ConformerConfig",
    "ConformerEncoder",
    "Context",
    "EncoderState",
    "StreamingError",
    "TransformerConfig",
    "TransformerEncoder",
]
