"""TLS with a self-signed certificate made in the test (openssl): a TLS client trusting it gets the offline
transcript; plaintext clients and clients trusting another certificate are refused; and `transduce serve
--tls-cert/--tls-key --metrics-port 0 --log-format json` with `transduce stream --tls-ca` as subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys

import grpc
import pytest
from grpc_helpers import ENDPOINTING_OFF, load, offline_text, pcm16, speechlike, tiny_model_dir, wav_bytes
from test_metrics_registry import parse
from transduce.asr.checkpoint import bundled_models
from transduce.service.client import StreamOptions, stream_pcm16
from transduce.service.server import ServerConfig, serve

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a "
                                "self-signed certificate (the cryptography package is not installed)")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
CLI = [sys.executable, "-m", "transduce"]


def self_signed(directory, name: str) -> tuple[str, str]:
    """(certificate, key) PEM paths of a fresh self-signed EC certificate for 127.0.0.1 / localhost."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=30)
    return str(cert), str(key)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    return self_signed(d, "server"), self_signed(d, "other")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny")


async def _finals(target: str, pcm: bytes, opts: StreamOptions):
    """(final transcripts, None) or ([], the status code of the refused call)."""
    try:
        texts = [r.alternatives[0].transcript async for resp in stream_pcm16(target, pcm, 16000, opts=opts)
                 for r in resp.results if r.is_final]
    except grpc.aio.AioRpcError as e:
        return [], e.code()
    return texts, None


def test_tls_round_trip_and_refusals(certs, model_dir):
    (cert, key), (other_cert, _) = certs
    model = load(model_dir)
    audio = speechlike(1.2, seed=21)
    expected = offline_text(model, wav_bytes(audio))
    endpointing = ENDPOINTING_OFF

    async def main():
        server = await serve({"tiny": model}, ServerConfig(port=0, tls_cert=cert, tls_key=key))
        target = f"127.0.0.1:{server.port}"
        try:
            pcm = pcm16(audio)
            good = await _finals(target, pcm, StreamOptions(tls_ca=cert, endpointing=endpointing))
            plain = await _finals(target, pcm, StreamOptions(endpointing=endpointing))
            wrong = await _finals(target, pcm, StreamOptions(tls_ca=other_cert, endpointing=endpointing))
            return good, plain, wrong
        finally:
            await server.stop(0)

    good, plain, wrong = asyncio.run(main())
    assert good == ([expected], None)
    assert plain == ([], grpc.StatusCode.UNAVAILABLE)
    assert wrong == ([], grpc.StatusCode.UNAVAILABLE)


def test_tls_settings_are_checked(certs, tmp_path):
    (cert, key), _ = certs
    with pytest.raises(ValueError, match="both a certificate and a private key"):
        ServerConfig(tls_cert=cert)
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ValueError, match="not a PEM file"):
        asyncio.run(serve({"tiny": load(tiny_model_dir(tmp_path / "m"))},
                          ServerConfig(port=0, tls_cert=str(tmp_path / "junk.pem"), tls_key=key)))
    with pytest.raises(OSError, match="cannot read the TLS private key"):
        asyncio.run(serve({"tiny": load(tiny_model_dir(tmp_path / "m2"))},
                          ServerConfig(port=0, tls_cert=cert, tls_key=str(tmp_path / "missing.key"))))


def _scrape(port: int) -> dict:
    async def get():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.1\r\n\r\n")
        data = (await reader.read()).decode()
        writer.close()
        return data.partition("\r\n\r\n")[2]

    return parse(asyncio.run(get()))


def test_cli_serve_with_tls_metrics_and_json_logs(certs, model_dir, tmp_path):
    (cert, key), _ = certs
    wav = wav_bytes(speechlike(1.0, seed=22))
    (tmp_path / "a.wav").write_bytes(wav)
    expected = offline_text(load(model_dir), wav)
    proc = subprocess.Popen([*CLI, "serve", "--model", str(model_dir), "--port", "0", "--threads", "1",
                             "--tls-cert", cert, "--tls-key", key, "--metrics-port", "0",
                             "--log-format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        serving, metrics = proc.stdout.readline(), proc.stdout.readline()
        assert serving.startswith("serving tiny on 127.0.0.1:"), (serving, proc.poll() and proc.stderr.read())
        if "format" in bundled_models():  # served beside the speech model by default
            assert metrics == "text models: format\n"
            metrics = proc.stdout.readline()
        assert metrics.startswith("metrics on http://127.0.0.1:"), metrics
        target, metrics_port = serving.split()[-1], int(metrics.rsplit(":", 1)[1].split("/")[0])
        out = subprocess.run([*CLI, "stream", str(tmp_path / "a.wav"), "--server", target, "--tls-ca", cert,
                              "--no-endpointing"], capture_output=True, text=True, env=ENV, timeout=60)
        assert out.returncode == 0, out.stderr
        finals = [ln.split("#0 ", 1)[1] for ln in out.stdout.splitlines() if ln.startswith("final")]
        assert finals == [expected], out.stdout
        page = _scrape(metrics_port)
        assert page["transduce_streams_total", frozenset()] == 1
        assert page["transduce_audio_seconds_total", frozenset()] == pytest.approx(1.0, abs=1e-9)
        assert page["transduce_active_streams", frozenset()] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-1000:]
    ends = [json.loads(ln) for ln in err.splitlines() if ln.startswith("{")]
    assert [(e["event"], e["status"], e["model"]) for e in ends] == [("stream end", "OK", "tiny")], err[-999:]
    assert ends[0]["audio_s"] == 1.0 and ends[0]["results"] >= 1
