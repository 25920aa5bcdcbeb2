"""`transduce serve` / `transduce stream` as subprocesses and the Python client helper: the streamed
transcript equals offline decoding; SIGTERM during a stream still delivers its final, then the server
exits."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys

import grpc
import pytest
from grpc_helpers import ENDPOINTING_OFF, load, offline_text, speechlike, tiny_model_dir, wav_bytes
from transduce.service.client import StreamOptions, stream_file
from transduce.service.protos import RecognizerStub, asr_pb2

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
CLI = [sys.executable, "-m", "transduce"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="module")
def server(model_dir):
    """A `transduce serve` process on a free port; yields (process, HOST:PORT)."""
    proc = subprocess.Popen([*CLI, "serve", "--model", str(model_dir), "--port", "0", "--threads", "1",
                             "--grace", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    line = proc.stdout.readline()
    assert line.startswith("serving tiny on 127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
    yield proc, line.split()[-1]
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _final_texts(responses):
    return [r.alternatives[0].transcript for resp in responses for r in resp.results if r.is_final]


def test_stream_command_prints_partials_and_the_offline_final(server, model_dir, tmp_path):
    _, target = server
    wav = wav_bytes(speechlike(1.5, seed=12))
    (tmp_path / "a.wav").write_bytes(wav)
    expected = offline_text(load(model_dir), wav)
    out = subprocess.run([*CLI, "stream", str(tmp_path / "a.wav"), "--server", target, "--interim",
                          "--no-endpointing"], capture_output=True, text=True, env=ENV, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    finals = [m.groups() for ln in lines if (m := re.match(r"final +\[ *([\d.]+)s\] #(\d+) (.*)$", ln))]
    assert any(ln.startswith("partial") for ln in lines)
    assert [(index, text) for _, index, text in finals] == [("0", expected)], lines
    assert abs(float(finals[0][0]) - 1.5) <= 0.04 + 1e-9  # the end of the last encoder frame (40 ms each)
    missing = subprocess.run([*CLI, "stream", str(tmp_path / "nope.wav"), "--server", target],
                             capture_output=True, text=True, env=ENV, timeout=60)
    assert missing.returncode == 2 and "no such audio file" in missing.stderr


def test_client_helper_and_sigterm_delivers_the_final_then_exits(server, model_dir, tmp_path):
    proc, target = server
    wav = wav_bytes(speechlike(2.0, seed=13))
    (tmp_path / "b.wav").write_bytes(wav)
    expected = offline_text(load(model_dir), wav)
    opts = StreamOptions(interim=True, realtime=True, chunk_ms=100, endpointing=ENDPOINTING_OFF)

    async def main():
        responses, signalled = [], False
        async for response in stream_file(target, tmp_path / "b.wav", opts):
            responses.append(response)
            if not signalled:  # the stream is open and decoding: ask the server to stop
                proc.send_signal(signal.SIGTERM)
                signalled = True
                await asyncio.sleep(0.3)
                async with grpc.aio.insecure_channel(target) as channel:
                    try:
                        await RecognizerStub(channel).ListModels(asr_pb2.ListModelsRequest(),
                                                                              timeout=2)
                        refused = None
                    except grpc.aio.AioRpcError as e:
                        refused = e.code()
        return responses, refused

    responses, refused = asyncio.run(main())
    assert not responses[0].results[0].is_final
    assert _final_texts(responses) == [expected]
    assert refused == grpc.StatusCode.UNAVAILABLE  # new calls are refused during the grace period
    assert proc.wait(timeout=20) == 0
    assert "stopped" in proc.stdout.read()


def test_serve_on_a_port_in_use_fails_with_a_clear_error(model_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([*CLI, "serve", "--model", str(model_dir), "--port", str(port)],
                             capture_output=True, text=True, env=ENV, timeout=60)
    assert out.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in out.stderr, out.stderr[-500:]
