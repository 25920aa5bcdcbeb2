"""A .nemo file the importer cannot run is refused with one line naming the class, key or value; the
CLI exits 2 and writes nothing. The archives here are built by hand (tar + YAML + torch.save), with a
SentencePiece model laid out as NeMo's (unk at 0, blank after the pieces)."""

from __future__ import annotations

import copy
import io
import tarfile
from pathlib import Path

import pytest
import sentencepiece as spm
import torch
import yaml
from transduce.asr.nemo import NemoImportError, load_nemo
from transduce.asr.nemo.config import model_config
from transduce.asr.tokenizers import NemoBpeTokenizer

from transduce.cli import main

WORDS = "the quick brown fox jumps over a lazy dog while seven tired cats sleep in the warm sun".split()

CTC_CONFIG = {
    "target": "nemo.collections.asr.models.ctc_bpe_models.EncDecCTCModelBPE",
    "tokenizer": {"dir": None, "type": "bpe", "model": "nemo:abc_tokenizer.model"},
    "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                     "sample_rate": 16000, "normalize": "per_feature", "window_size": 0.025,
                     "window_stride": 0.01, "window": "hann", "features": 80, "n_fft": 512, "log": True,
                     "frame_splicing": 1, "dither": 1e-05, "pad_to": 0, "pad_value": 0.0},
    "encoder": {"_target_": "nemo.collections.asr.modules.ConformerEncoder", "feat_in": 80, "feat_out": -1,
                "n_layers": 1, "d_model": 32, "subsampling": "striding", "subsampling_factor": 4,
                "subsampling_conv_channels": -1, "ff_expansion_factor": 2, "self_attention_model": "rel_pos",
                "n_heads": 2, "att_context_size": [-1, -1], "xscaling": True, "untie_biases": True,
                "pos_emb_max_len": 5000, "conv_kernel_size": 5, "conv_norm_type": "batch_norm",
                "dropout": 0.1, "dropout_pre_encoder": 0.1, "dropout_emb": 0.0, "dropout_att": 0.1},
    "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": 32, "num_classes": -1,
                "vocabulary": []},
}


def _sentencepiece(tmp: Path) -> bytes:
    text = tmp / "text.txt"
    text.write_text("\n".join(" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))))
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp / "sp"), vocab_size=30,
                                   model_type="bpe", character_coverage=1.0, bos_id=-1, eos_id=-1)
    return (tmp / "sp.model").read_bytes()


def _archive(path: Path, cfg: dict, weights: dict, tokenizer: bytes | None) -> Path:
    members = {"model_config.yaml": yaml.safe_dump(cfg).encode()}
    buf = io.BytesIO()
    torch.save(weights, buf)
    members["model_weights.ckpt"] = buf.getvalue()
    if tokenizer is not None:
        members["abc_tokenizer.model"] = tokenizer
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _nemo_weights(cfg: dict, vocab: int) -> dict:
    """NeMo-named weights of the CTC config (shapes as NeMo's modules have them)."""
    from transduce.asr.encoders import ConformerEncoder
    from transduce.asr.features.nemo_mel import NemoMelConfig  # noqa: F401 - the mapping needs it

    ours = model_config(cfg, vocab)
    enc = ConformerEncoder(ours.encoder).state_dict()
    out = {}
    for name, value in enc.items():
        if name.startswith("pre_encode.conv."):
            stage, layer, what = name.split(".")[2:5]
            name = f"pre_encode.conv.{2 * int(stage)}.{what}"
        out[f"encoder.{name}"] = torch.randn_like(value) if value.is_floating_point() else value
    out["decoder.decoder_layers.0.weight"] = torch.randn(vocab, 32, 1)
    out["decoder.decoder_layers.0.bias"] = torch.randn(vocab)
    return out


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nemo")
    tok = _sentencepiece(tmp)
    vocab = NemoBpeTokenizer(tok).vocab_size
    return tmp, tok, _nemo_weights(CTC_CONFIG, vocab)


def test_a_ctc_model_loads_with_the_blank_moved_to_zero(good, tmp_path):
    tmp, tok, weights = good
    model = load_nemo(_archive(tmp_path / "m.nemo", CTC_CONFIG, weights, tok))
    assert model.cfg.transducer == "none" and model.cfg.ctc
    w = weights["decoder.decoder_layers.0.weight"][:, :, 0]
    assert torch.equal(model.ctc_head.linear.weight[0], w[-1])  # NeMo's blank is its last class
    assert torch.equal(model.ctc_head.linear.weight[1:], w[:-1])
    assert model.tokenizer.decode(model.tokenizer.encode("the lazy dog")) == "the lazy dog"


@pytest.mark.parametrize(("change", "message"), [
    (("target",), "model class 'EncDecCTCModel' is not supported"),
    (("encoder", "subsampling"), "encoder.subsampling = 'vggnet' is not supported"),
    (("encoder", "self_attention_model"), "encoder.self_attention_model = 'abs_pos' is not supported"),
    (("encoder", "att_context_style"), "encoder.att_context_style = 'diagonal' is not supported"),
    (("encoder", "mystery_key"), "encoder: unsupported key 'mystery_key'"),
    (("preprocessor", "_target_"), "preprocessor._target_ = 'AudioToMFCCPreprocessor' is not supported"),
    (("preprocessor", "frame_splicing"), "frame_splicing"),
    (("decoder", "_target_"), "decoder._target_ = 'ConvASRDecoderClassification' is not supported"),
    (("tokenizer", "type"), "tokenizer.type = 'wpe' is not supported"),
])
def test_unsupported_settings_are_refused_by_name(good, tmp_path, change, message):
    tmp, tok, weights = good
    cfg = copy.deepcopy(CTC_CONFIG)
    values = {"target": "nemo.collections.asr.models.EncDecCTCModel", "subsampling": "vggnet",
              "self_attention_model": "abs_pos", "att_context_style": "diagonal", "mystery_key": 3,
              "_target_": "nemo.collections.asr.modules.AudioToMFCCPreprocessor", "frame_splicing": 3,
              "type": "wpe"}
    if change == ("decoder", "_target_"):
        cfg["decoder"]["_target_"] = "nemo.collections.asr.modules.ConvASRDecoderClassification"
    elif len(change) == 1:
        cfg[change[0]] = values[change[0]]
    else:
        cfg[change[0]][change[1]] = values[change[1]]
    with pytest.raises(NemoImportError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        load_nemo(_archive(tmp_path / "m.nemo", cfg, weights, tok))
    assert "\n" not in str(e.value)


def test_a_missing_required_key_is_named(good, tmp_path):
    tmp, tok, weights = good
    cfg = copy.deepcopy(CTC_CONFIG)
    del cfg["encoder"]["d_model"]
    with pytest.raises(NemoImportError, match=r"encoder\.d_model is missing from the config"):
        load_nemo(_archive(tmp_path / "m.nemo", cfg, weights, tok))


def test_broken_archives_are_refused(good, tmp_path):
    tmp, tok, weights = good
    junk = tmp_path / "junk.nemo"
    junk.write_bytes(b"not a tar at all")
    with pytest.raises(NemoImportError, match="not a readable .nemo archive"):
        load_nemo(junk)
    with pytest.raises(NemoImportError, match="is not in the archive"):
        load_nemo(_archive(tmp_path / "notok.nemo", CTC_CONFIG, weights, None))
    short = dict(weights)
    short.pop("decoder.decoder_layers.0.bias")
    with pytest.raises(NemoImportError, match="lacks 'ctc_head.linear.bias'"):
        load_nemo(_archive(tmp_path / "short.nemo", CTC_CONFIG, short, tok))


def test_cli_refuses_in_one_line_and_writes_nothing(good, tmp_path, capsys):
    tmp, tok, weights = good
    cfg = copy.deepcopy(CTC_CONFIG)
    cfg["encoder"]["subsampling"] = "vggnet"
    bad = _archive(tmp_path / "bad.nemo", cfg, weights, tok)
    out = tmp_path / "out"
    assert main(["import-nemo", str(bad), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "encoder.subsampling = 'vggnet'" in err
    assert not out.exists()
    ok = _archive(tmp_path / "ok.nemo", CTC_CONFIG, weights, tok)
    assert main(["import-nemo", str(ok), str(out)]) == 0
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "tokenizer"}
    from transduce import load_model

    again, direct = load_model(out), load_nemo(ok)
    for (k, a), b in zip(again.state_dict().items(), direct.state_dict().values()):
        assert torch.equal(a, b), k
