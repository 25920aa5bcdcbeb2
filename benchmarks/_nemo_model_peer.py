"""Peer worker of nemo_model.py (NeMo's venv; imports only torch, NeMo and the torch-only _common).

B: streams, T: feature frames, F: mel bins (80), D: encoder width, T': encoder frames, V: vocabulary.

    build    --model OUT.nemo --wavs LIST.txt --layers N --workdir DIR: train a SentencePiece BPE
             tokenizer on TEXT with NeMo's create_spt_model, build a random-weight cache-aware
             FastConformer hybrid RNN-T + CTC (EncDecHybridRNNTCTCBPEModel) with NeMo, calibrate its
             RNN-T head (below) and save it with save_to().
    measure  --model M.nemo --inputs IN.pt: restore M with ASRModel.restore_from and run the plan of
             IN.pt: streaming throughput (conformer_stream_step, as NeMo's
             speech_to_text_cache_aware_streaming_infer.py) and offline model.transcribe().

Weights: the encoder (and CTC head) keep NeMo's random initialisation. An untrained RNN-T head
emits blank everywhere or one token max_symbols times per frame, which would make greedy decoding
cost nothing or 10x too much; so the predictor and joint get constructed weights of the same shapes
(the compute is the same as for trained weights): the LSTM is a leaky memory of the tokens emitted
so far (c <- 0.8 c + onehot(token)), the joint keeps `joint_hidden - V` random units read from the
encoder and gives each token one unit that suppresses it while it is recent, and the blank bias is
set by bisection so that greedy decoding of the benchmark files emits about TOKENS_PER_FRAME tokens
per encoder frame (80 ms; gibberish at a speech-like token rate, rarely 2+ per frame), then moved
within +-0.3 to where the smallest top-1 vs top-2 logit margin on the greedy paths is widest (so
float rounding differences between implementations do not flip an argmax).
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import statistics
import time

import torch
from _common import apply_threads, write_result

SR = 16000
VOCAB = 128
TOKENS_PER_FRAME = 0.4

TEXT = """
the quick brown fox jumps over the lazy dog while the farmer watches from the old wooden gate
streaming speech recognition turns spoken words into text while the speaker is still talking
please remember to bring your umbrella because the forecast says it will rain this afternoon
the committee will meet again next thursday to discuss the budget for the coming year
she picked up the phone and called her brother to tell him about the good news
a bright yellow bus stopped at the corner and a group of children climbed aboard
the scientist explained that the experiment had to be repeated three more times
we drove through the mountains for hours and finally reached the lake before sunset
his favourite breakfast is toast with butter and honey and a large cup of black coffee
the old clock on the wall stopped working years ago but nobody wanted to throw it away
when the concert ended the audience stood up and applauded for almost ten minutes
the hospital is looking for volunteers who can help visitors find their way around
our neighbours are planting tomatoes peppers and beans in the garden behind their house
the pilot checked the instruments once more before asking for permission to take off
a gentle wind moved the leaves and the smell of fresh bread came from the bakery
they spent the whole weekend painting the kitchen a warm shade of orange
the company announced record profits and promised to hire two hundred new workers
i would like to book a table for four people at seven o'clock on friday evening
the students gathered in the hall to hear the results of the national competition
after a long day at work he likes to read a book and listen to quiet music
the bridge across the river was closed for repairs so we took the longer road
my grandmother tells wonderful stories about the village where she grew up
the train to the airport leaves every fifteen minutes from the second platform
cold water flowed down from the glacier and filled the valley with a loud roar
the shop on the corner sells newspapers magazines sweets and bus tickets
could you please repeat the last number because the line was very noisy
every autumn thousands of birds fly south across the sea to find warmer weather
the doctor said that regular exercise and a good night's sleep are very important
the football match was cancelled because the field was covered in snow
we are going to need a bigger boat if we want to carry all of these boxes
""".strip()


# --------------------------------------------------------------------------------------- build
def train_tokenizer(workdir: str) -> str:
    """NeMo's own SentencePiece BPE training (what process_asr_text_tokenizer.py runs) on TEXT."""
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    data = os.path.join(workdir, "text.txt")
    with open(data, "w") as f:
        f.write("\n".join(line.strip() for line in TEXT.splitlines()) + "\n")
    out = os.path.join(workdir, f"tokenizer_spe_bpe_v{VOCAB}")
    shutil.rmtree(out, ignore_errors=True)
    create_spt_model(data, VOCAB, sample_size=-1, do_lower_case=True, tokenizer_type="bpe", output_dir=out)
    return out


def model_config(tok_dir: str, layers: int) -> dict:
    """NeMo's fastconformer_hybrid_transducer_ctc_bpe_streaming.yaml `model:` section, shrunk."""
    ds = {"manifest_filepath": None, "sample_rate": SR, "batch_size": 8, "shuffle": False,
          "num_workers": 0, "pin_memory": False, "use_start_end_token": False}
    return {
        "sample_rate": SR, "compute_eval_loss": False, "log_prediction": False, "skip_nan_grad": False,
        "model_defaults": {"enc_hidden": "${model.encoder.d_model}", "pred_hidden": 320, "joint_hidden": 320},
        "train_ds": None, "validation_ds": ds, "test_ds": ds,
        "tokenizer": {"dir": tok_dir, "type": "bpe"},
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "sample_rate": SR, "normalize": "NA", "window_size": 0.025, "window_stride": 0.01,
            "window": "hann", "features": 80, "n_fft": 512, "log": True, "frame_splicing": 1,
            "dither": 0.00001, "pad_to": 0, "pad_value": 0.0},
        "spec_augment": None,
        "encoder": {
            "_target_": "nemo.collections.asr.modules.ConformerEncoder",
            "feat_in": 80, "feat_out": -1, "n_layers": layers, "d_model": 176, "use_bias": True,
            "subsampling": "dw_striding", "subsampling_factor": 8, "subsampling_conv_channels": -1,
            "causal_downsampling": True, "ff_expansion_factor": 4, "self_attention_model": "rel_pos",
            "n_heads": 4, "att_context_size": [[70, 13], [70, 1]], "att_context_style": "chunked_limited",
            "att_context_probs": None, "xscaling": True, "untie_biases": True, "pos_emb_max_len": 5000,
            "conv_kernel_size": 9, "conv_norm_type": "layer_norm", "conv_context_size": "causal",
            "dropout": 0.1, "dropout_pre_encoder": 0.1, "dropout_emb": 0.0, "dropout_att": 0.1,
            "stochastic_depth_drop_prob": 0.0, "stochastic_depth_mode": "linear",
            "stochastic_depth_start_layer": 1},
        "decoder": {
            "_target_": "nemo.collections.asr.modules.RNNTDecoder", "normalization_mode": None,
            "random_state_sampling": False, "blank_as_pad": True,
            "prednet": {"pred_hidden": "${model.model_defaults.pred_hidden}", "pred_rnn_layers": 1,
                        "t_max": None, "dropout": 0.2}},
        "joint": {
            "_target_": "nemo.collections.asr.modules.RNNTJoint", "log_softmax": None,
            "preserve_memory": False, "fuse_loss_wer": True, "fused_batch_size": 4,
            "jointnet": {"joint_hidden": "${model.model_defaults.joint_hidden}", "activation": "relu",
                         "dropout": 0.2}},
        "decoding": {"strategy": "greedy_batch", "greedy": {"max_symbols": 10},
                     "beam": {"beam_size": 2, "return_best_hypothesis": False}},
        "aux_ctc": {
            "ctc_loss_weight": 0.3, "use_cer": False, "ctc_reduction": "mean_batch",
            "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": None,
                        "num_classes": -1, "vocabulary": []},
            "decoding": {"strategy": "greedy"}},
        "interctc": {"loss_weights": [], "apply_at_layers": []},
        "loss": {"loss_name": "default", "warprnnt_numba_kwargs": {"fastemit_lambda": 0.0, "clamp": -1.0}},
        "optim": None,
    }


def read_list(path: str) -> list[str]:
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


@torch.inference_mode()
def _encode(model, wavs: list[str]) -> list[torch.Tensor]:
    """Encoder outputs (1, D, T') of each file, default context (NeMo's preprocessor, eval mode)."""
    import soundfile as sf

    outs = []
    for w in wavs:
        x, _ = sf.read(w, dtype="float32")
        sig = torch.from_numpy(x)[None]
        feats, flen = model.preprocessor(input_signal=sig, length=torch.tensor([sig.shape[1]]))
        enc, elen = model.encoder(audio_signal=feats, length=flen)
        outs.append(enc[:, :, : int(elen[0])])
    return outs


def _greedy(model, encs: list[torch.Tensor]) -> list:
    """NeMo's greedy hypotheses of encoder outputs encs (each (1, D, T')), decoded as one batch."""
    x = torch.nn.utils.rnn.pad_sequence([e[0].T for e in encs], batch_first=True).transpose(1, 2)
    lens = torch.tensor([e.shape[-1] for e in encs])
    return model.decoding.rnnt_decoder_predictions_tensor(encoder_output=x, encoded_lengths=lens,
                                                          return_hypotheses=True)


def _tokens_per_frame(model, encs: list[torch.Tensor]) -> tuple[float, int, int]:
    """NeMo greedy: tokens per encoder frame over encs, frames with 2+ tokens, frames at max_symbols."""
    n_tok, n_frames, multi, hits = 0, 0, 0, 0
    max_symbols = int(model.cfg.decoding.greedy.max_symbols)
    hyps = _greedy(model, encs)
    for e, h in zip(encs, hyps):
        ts = h.timestamp.tolist() if isinstance(h.timestamp, torch.Tensor) else list(h.timestamp or [])
        n_tok += len(h.y_sequence)
        n_frames += e.shape[-1]
        multi += sum(ts.count(t) >= 2 for t in set(ts))
        hits += sum(ts.count(t) >= max_symbols for t in set(ts))
    return n_tok / n_frames, multi, hits


def _min_margin(model, encs: list[torch.Tensor]) -> float:
    """Smallest top-1 minus top-2 joint logit over the (frame, predictor state) pairs that NeMo's greedy
    decoding of encs evaluates (rebuilt from each hypothesis' tokens and frames, in one batch)."""
    max_symbols, joint, margin = int(model.cfg.decoding.greedy.max_symbols), model.joint, float("inf")
    hyps = _greedy(model, encs)
    for e, h in zip(encs, hyps):
        ids = [int(v) for v in h.y_sequence]
        ts = [int(v) for v in h.timestamp]
        g, _ = model.decoder.predict(torch.tensor([ids]) if ids else None, state=None, add_sos=True,
                                     batch_size=1)  # (1, U + 1, P): the state before each token
        frames, states, u = [], [], 0
        for t in range(e.shape[-1]):
            n = ts.count(t)
            for j in range(n + (n < max_symbols)):
                frames.append(t)
                states.append(u + j)
            u += n
        f = joint.project_encoder(e.transpose(1, 2))[0][frames]
        p = joint.project_prednet(g)[0][states]
        top = joint.joint_net(f + p).topk(2, dim=-1).values
        margin = min(margin, float((top[:, 0] - top[:, 1]).min()))
    return margin


@torch.inference_mode()
def calibrate(model, wavs: list[str]) -> dict:
    """Set the predictor and joint weights as the module docstring says (encoder stays random)."""
    blank = model.tokenizer.vocab_size  # tokens 0..V-1, blank V
    pred_h = model.decoder.pred_hidden
    lstm = model.decoder.prediction["dec_rnn"].lstm
    embed = model.decoder.prediction["embed"]
    joint, last = model.joint, model.joint.joint_net[-1]
    hidden = last.in_features
    n_enc = hidden - blank  # joint units read from the encoder; the last `blank` units are the memory
    assert n_enc > 0 and pred_h >= blank and lstm.num_layers == 1, (hidden, pred_h, blank)
    # predictor: a leaky memory of the tokens emitted so far, c <- 0.8 c + onehot(token), g = tanh(c)
    embed.weight.zero_()
    embed.weight[:blank, :blank] = torch.eye(blank)
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        getattr(lstm, name).zero_()
    h = pred_h
    lstm.bias_ih_l0[:h] = 10.0  # input gate open
    lstm.bias_ih_l0[h: 2 * h] = float(torch.logit(torch.tensor(0.8)))  # forget gate 0.8
    lstm.weight_ih_l0[2 * h: 3 * h].copy_(3.0 * torch.eye(h))  # cell input tanh(3 onehot)
    lstm.bias_ih_l0[3 * h:] = 10.0  # output gate open
    # joint: units [0, n_enc) random encoder features; unit n_enc + k fires while token k is recent
    joint.enc.weight[n_enc:] = 0.0
    joint.enc.bias[n_enc:] = 0.0
    joint.pred.weight.zero_()
    joint.pred.bias.zero_()
    joint.pred.weight[n_enc:, :blank] = 10.0 * torch.eye(blank)
    joint.pred.bias[n_enc:] = -1.5  # fires while g_k > 0.15: about the last 7 tokens
    last.weight[:, n_enc:] = 0.0
    last.weight[:blank, n_enc:] = -5.0 * torch.eye(blank)  # a recent token is suppressed (-30 at once)
    encs = _encode(model, wavs)
    f = torch.relu(torch.cat([joint.project_encoder(e.transpose(1, 2))[0] for e in encs])[:, :n_enc])
    # token logits: random directions in the whitened space of the frames' deviations from their mean
    # (a random encoder's frames differ little; whitening makes every frame's logits spread alike)
    mean = f.mean(0)
    evals, evecs = torch.linalg.eigh(torch.cov((f - mean).T))
    # floor: no direction is amplified more than 10x the largest one (float noise stays float noise)
    whiten = evecs @ torch.diag(evals.clamp_min(0.01 * float(evals.max())).rsqrt()) @ evecs.T
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(blank, n_enc, generator=gen) @ whiten * (4.0 / n_enc ** 0.5)
    last.weight[:blank, :n_enc] = w
    last.bias[:blank] = -(w @ mean)
    last.weight[blank] = 0.0
    lo, hi = 0.0, 20.0  # blank bias: higher, fewer tokens
    for _ in range(10):
        last.bias[blank] = (lo + hi) / 2
        more = _tokens_per_frame(model, encs)[0] > TOKENS_PER_FRAME
        lo, hi = ((lo + hi) / 2, hi) if more else (lo, (lo + hi) / 2)
    best = None
    for shift in torch.linspace(-0.3, 0.3, 5).tolist():  # keep argmax margins wide: no near-ties
        last.bias[blank] = hi + shift
        m = _min_margin(model, encs)
        if best is None or m > best[0]:
            best = (m, hi + shift)
    last.bias[blank] = best[1]
    rate, multi, hits = _tokens_per_frame(model, encs)
    return {"tokens_per_frame": rate, "frames_with_2plus_tokens": multi, "max_symbol_hits": hits,
            "blank_bias": best[1], "min_top2_margin": best[0],
            "encoder_frames": sum(e.shape[-1] for e in encs)}


def build(args: argparse.Namespace) -> dict:
    from nemo.collections.asr.models import EncDecHybridRNNTCTCBPEModel
    from omegaconf import OmegaConf

    start = time.perf_counter()
    os.makedirs(args.workdir, exist_ok=True)
    tok_dir = train_tokenizer(args.workdir)
    cfg = OmegaConf.create({"model": model_config(tok_dir, args.layers)})
    OmegaConf.resolve(cfg)
    torch.manual_seed(args.seed)
    model = EncDecHybridRNNTCTCBPEModel(cfg=cfg.model).eval()
    decoding = copy.deepcopy(model.cfg.decoding)
    _set_greedy(model)
    calib = calibrate(model, read_list(args.wavs))
    model.change_decoding_strategy(decoding_cfg=decoding, decoder_type="rnnt", verbose=False)
    model.save_to(args.model)
    return {"build_s": time.perf_counter() - start, "calibration": calib,
            "vocab": int(model.tokenizer.vocab_size), "n_params": sum(p.numel() for p in model.parameters()),
            "model_class": type(model).__name__, "nemo_bytes": os.path.getsize(args.model)}


# ------------------------------------------------------------------------------------- measure
def _set_greedy(model, strategy: str = "greedy_batch") -> None:
    """The RNN-T head, greedy, as speech_to_text_cache_aware_streaming_infer.py sets it up."""
    from omegaconf import open_dict

    dcfg = copy.deepcopy(model.cfg.decoding)
    with open_dict(dcfg):
        dcfg.strategy = strategy
        dcfg.preserve_alignments = False
        dcfg.greedy.max_symbols = 10
        dcfg.fused_batch_size = -1
        if strategy == "greedy_batch":
            dcfg.greedy.use_cuda_graph_decoder = False
    if hasattr(model, "ctc_decoder"):  # hybrid: the RNN-T head
        model.change_decoding_strategy(decoding_cfg=dcfg, decoder_type="rnnt", verbose=False)
    else:
        model.change_decoding_strategy(decoding_cfg=dcfg, verbose=False)


def _ids(h) -> list[int]:
    y = h.y_sequence
    return [int(v) for v in (y.tolist() if isinstance(y, torch.Tensor) else y)]


@torch.inference_mode()
def stream(model, feats: torch.Tensor, ctx: list[int], warm: int, timed: int) -> dict:
    """B = feats.shape[0] streams of features (B, T, F) through conformer_stream_step, chunked by
    NeMo's CacheAwareStreamingAudioBuffer; `warm` untimed steps, then `timed` timed ones."""
    from nemo.collections.asr.parts.utils.streaming_utils import CacheAwareStreamingAudioBuffer

    model.encoder.set_default_att_context_size(ctx)  # also runs setup_streaming_params()
    scfg = model.encoder.streaming_cfg
    buf = CacheAwareStreamingAudioBuffer(model=model, online_normalization=False,
                                         pad_and_drop_preencoded=False)
    for b in range(feats.shape[0]):
        buf.append_processed_signal(feats[b].T[None].contiguous())
    batch = feats.shape[0]
    c_chan, c_time, c_len = model.encoder.get_initial_cache_state(batch_size=batch)
    prev_hyp, pred_out, times, shapes = None, None, [], []
    for step, (chunk, chunk_len) in enumerate(buf):
        if step >= warm + timed:
            break
        last = buf.is_buffer_empty()
        assert not last, "the features ran out before the timed steps ended"
        t0 = time.perf_counter()
        pred_out, _, c_chan, c_time, c_len, prev_hyp = model.conformer_stream_step(
            processed_signal=chunk, processed_signal_length=chunk_len, cache_last_channel=c_chan,
            cache_last_time=c_time, cache_last_channel_len=c_len, keep_all_outputs=last,
            previous_hypotheses=prev_hyp, previous_pred_out=pred_out,
            drop_extra_pre_encoded=0 if step == 0 else scfg.drop_extra_pre_encoded, return_transcription=True)
        dt = time.perf_counter() - t0
        if len(shapes) < 3:
            shapes.append(list(chunk.shape))
        if step >= warm:
            times.append(dt)
    later = scfg.shift_size[1] if isinstance(scfg.shift_size, list) else scfg.shift_size
    median = statistics.median(times)
    return {"batch": batch, "steps": timed, "step_times_ms": [t * 1000 for t in times],
            "step_ms": median * 1000, "audio_s_per_s": batch * later * 0.01 / median,
            "tokens": [_ids(h) for h in prev_hyp], "chunk_shapes": shapes}


def _streaming_cfg(model) -> dict:
    cfg = model.encoder.streaming_cfg
    return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in vars(cfg).items()
            if isinstance(v, (int, float, list, tuple, type(None)))}


@torch.inference_mode()
def transcribe(model, wavs: list[str], batch: int, repeats: int) -> dict:
    """model.transcribe(wavs, batch_size=batch) timed `repeats` times after one untimed warm-up."""
    def run():
        out = model.transcribe(wavs, batch_size=batch, return_hypotheses=True, num_workers=0, verbose=False)
        return out[0] if isinstance(out, tuple) else out

    run_warm = model.transcribe(wavs[:batch], batch_size=batch, num_workers=0, verbose=False)
    del run_warm
    times, hyps = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        hyps = run()
        times.append(time.perf_counter() - t0)
    return {"batch": batch, "times_s": times, "tokens": [_ids(h) for h in hyps],
            "texts": [h.text for h in hyps]}


def measure(args: argparse.Namespace) -> dict:
    import nemo
    from nemo.collections.asr.models import ASRModel

    data = torch.load(args.inputs, weights_only=True)
    plan = data["plan"]
    t0 = time.perf_counter()
    model = ASRModel.restore_from(args.model, map_location="cpu").eval()
    load_s = time.perf_counter() - t0
    _set_greedy(model)
    res = {"name": f"NeMo {nemo.__version__} {type(model).__name__}", "load_s": load_s,
           "n_params": sum(p.numel() for p in model.parameters()),
           "contexts": [list(c) for c in model.encoder.att_context_size_all], "stream": {}}
    default = list(model.encoder.att_context_size)
    for i in plan["lookaheads"]:
        ctx = res["contexts"][i]
        feats = data["stream_feats"][str(i)]
        runs = [stream(model, feats[:b], ctx, plan["warm"][str(i)], plan["timed"]) for b in plan["batches"]]
        res["stream"][str(i)] = {"streaming_cfg": _streaming_cfg(model), "runs": runs}
    model.encoder.set_default_att_context_size(list(plan["offline_context"]))
    res["offline_context"] = list(model.encoder.att_context_size)
    res["offline"] = [transcribe(model, plan["wavs"], b, plan["repeats"]) for b in plan["offline_batches"]]
    model.encoder.set_default_att_context_size(default)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["build", "measure"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--inputs")
    ap.add_argument("--wavs")
    ap.add_argument("--workdir")
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    threads = apply_threads(args.threads)
    import logging

    from nemo.utils import logging as nemo_logging

    nemo_logging.setLevel(logging.ERROR)
    res = build(args) if args.mode == "build" else measure(args)
    res.update(threads=threads, torch=torch.__version__)
    write_result(args.out, res)


if __name__ == "__main__":
    main()
