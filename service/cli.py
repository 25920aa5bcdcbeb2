"""`transduce serve` and `transduce stream`: the gRPC server and a command-line client.

    transduce serve --model demo --port 50051 [--text-model format|PATH|none ...] [--host 127.0.0.1]
                    [--max-streams N] [--token T]
                    [--metrics-port N] [--log-format json|text] [--tls-cert FILE --tls-key FILE]
    transduce stream talk.wav --server 127.0.0.1:50051 [--realtime] [--interim] [--tls-ca FILE]

Registered as plugins of the `transduce.commands` entry-point group (pyproject.toml), so `asr.cli`
never imports this layer. `serve` prints one line `serving MODEL on HOST:PORT` once it listens (port
0 picks a free port) and shuts down gracefully on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from transduce.asr.cli import Command, CommandError
from transduce.service.logs import LOG_FORMATS

__all__ = ["COMMAND", "STREAM_COMMAND"]


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="PATH|NAME",
                        help="a model directory, or the name of a bundled model (e.g. demo)")
    parser.add_argument("--text-model", action="append", default=None, metavar="PATH|NAME",
                        help="a text model to serve (FormatText; the first formats finals with "
                             "enable_formatting); repeatable; default: the bundled 'format' model; "
                             "none: no text model")
    parser.add_argument("--lm", default=None, metavar="PATH|NAME",
                        help="a language model (TextLM) that re-ranks the n-best of finals with beam "
                             "decoding; default: the one bundled beside the model (its lm folder), if any; "
                             "none: no language model")
    parser.add_argument("--lm-weight", type=float, default=0.3, metavar="W",
                        help="language-model weight of requests that set no lm_weight (default 0.3)")
    parser.add_argument("--port", type=int, default=50051, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--max-streams", type=int, default=None, metavar="N",
                        help="concurrent streams; more get RESOURCE_EXHAUSTED (default: no limit)")
    parser.add_argument("--max-stream-s", type=float, default=None, metavar="S",
                        help="longest audio per stream; more gets OUT_OF_RANGE (default: no limit)")
    parser.add_argument("--idle-timeout", type=float, default=None, metavar="S",
                        help="end a stream that sends nothing for S seconds with DEADLINE_EXCEEDED")
    parser.add_argument("--token", default=os.environ.get("TRANSDUCE_TOKEN"), metavar="T",
                        help="require metadata 'authorization: Bearer T' (default: $TRANSDUCE_TOKEN)")
    parser.add_argument("--max-message-mb", type=float, default=4.0, metavar="MB",
                        help="largest request message (default 4 MiB)")
    parser.add_argument("--grace", type=float, default=10.0, metavar="S",
                        help="seconds open streams get to finish after SIGTERM (default 10)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for the model")
    parser.add_argument("--lookahead-ms", type=int, default=None, metavar="MS",
                        help="look-ahead of streams that do not choose one (default: the model's default)")
    parser.add_argument("--max-batch", type=int, default=32, metavar="N",
                        help="streams batched into one model step (default 32; 1: no batching)")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, metavar="MS",
                        help="how long a ready stream waits for others to join its step (default 5)")
    parser.add_argument("--metrics-port", type=int, default=None, metavar="N",
                        help="serve Prometheus metrics at http://HOST:N/metrics (0: any free port)")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                        help="stream-end log lines on stderr as json or text (default text)")
    parser.add_argument("--tls-cert", default=None, metavar="FILE", help="PEM certificate chain: serve TLS")
    parser.add_argument("--tls-key", default=None, metavar="FILE", help="PEM private key of --tls-cert")


def _model_name(spec: str) -> str:
    """The name a model is served under: a bundled name as it is, else the file or folder name (a
    .nemo file without its suffix)."""
    if not (os.sep in spec or "/" in spec or Path(spec).exists()):
        return spec
    path = Path(spec)
    return path.stem if path.suffix == ".nemo" else path.name


def _text_models(specs: list[str] | None) -> list[str]:
    """The text models to load: those named, none for "none", else the bundled formatting model if any."""
    from transduce.asr.checkpoint import bundled_models

    if specs is None:
        return ["format"] if "format" in bundled_models() else []
    return [] if specs == ["none"] else specs


def _language_model(spec: str | None, model: str) -> object:
    """The TextLM of --lm: that named, none for "none", else the one bundled beside the model if any."""
    from transduce.streaming.lm import LM_DIR, load_lm

    if spec == "none":
        return None
    if spec is not None:
        return load_lm(spec)
    if str(model).endswith(".nemo"):
        return None
    from transduce.asr.checkpoint import resolve_model_dir

    return load_lm(True, model) if (resolve_model_dir(model) / LM_DIR).is_dir() else None


def _run_serve(args: argparse.Namespace) -> int:
    import torch
    from transduce.asr.checkpoint import CheckpointError, load_model
    from transduce.asr.text.models import TextSeq2Seq
    from transduce.service.logs import configure_logging
    from transduce.service.server import Server, ServerConfig, run_until_signal
    from transduce.streaming import SchedulerConfig, SessionConfigError

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = load_model(args.model)
        text_models = {_model_name(spec): load_model(spec) for spec in _text_models(args.text_model)}
        for spec, text_model in zip(_text_models(args.text_model), text_models.values()):
            if not isinstance(text_model, TextSeq2Seq):
                raise ValueError(f"--text-model {spec}: not a text model ({type(text_model).__name__})")
        lm = _language_model(args.lm, args.model)
        cfg = ServerConfig(host=args.host, port=args.port, max_streams=args.max_streams,
                           max_stream_s=args.max_stream_s, idle_timeout_s=args.idle_timeout, token=args.token,
                           max_message_bytes=int(args.max_message_mb * 2**20), grace_s=args.grace,
                           metrics_port=args.metrics_port, tls_cert=args.tls_cert, tls_key=args.tls_key,
                           default_lookahead_ms=args.lookahead_ms, lm_weight=args.lm_weight,
                           scheduler=SchedulerConfig(max_batch=args.max_batch, max_wait_ms=args.max_wait_ms))
    except (CheckpointError, ValueError, SessionConfigError) as e:
        raise CommandError(str(e)) from None
    name = _model_name(args.model)
    lms = {name: lm} if lm is not None else {}
    configure_logging(args.log_format)

    def started(server: Server) -> None:
        print(f"serving {name} on {args.host}:{server.port}", flush=True)
        if text_models:
            print(f"text models: {', '.join(text_models)}", flush=True)
        if lms:
            print(f"language model: {args.lm or 'bundled'} (default weight {args.lm_weight:g})", flush=True)
        if server.metrics_port is not None:
            print(f"metrics on http://{args.host}:{server.metrics_port}/metrics", flush=True)

    try:
        asyncio.run(run_until_signal({name: model}, cfg, on_start=started, text_models=text_models, lms=lms))
    except (OSError, ValueError) as e:  # a port in use, an unreadable TLS file
        raise CommandError(str(e)) from None
    print("stopped", flush=True)
    return 0


def _stream_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="audio file (WAV/FLAC/OGG) to stream")
    parser.add_argument("--server", required=True, metavar="HOST:PORT", help="the transduce server")
    parser.add_argument("--realtime", action="store_true", help="send at the pace of the audio")
    parser.add_argument("--interim", action="store_true", help="print partial results too")
    parser.add_argument("--model", default="", help="model name on the server (default: its default)")
    parser.add_argument("--max-stream-s", type=float, default=None, metavar="S",
                        help="longest audio per stream; more gets OUT_OF_RANGE (default: no limit)")
    parser.add_argument("--idle-timeout", type=float, default=None, metavar="S",
                        help="end a stream that sends nothing for S seconds with DEADLINE_EXCEEDED")
    parser.add_argument("--token", default=os.environ.get("TRANSDUCE_TOKEN"), metavar="T",
                        help="bearer token (default: $TRANSDUCE_TOKEN)")
    parser.add_argument("--tls-ca", default=None, metavar="FILE",
                        help="connect with TLS trusting this PEM CA (or self-signed server) certificate")
    parser.add_argument("--chunk-ms", type=int, default=100, help="audio per message (default 100 ms)")
    parser.add_argument("--lookahead-ms", type=int, default=None, metavar="MS",
                        help="one of the model's look-aheads (ListModels; default: the server's)")
    parser.add_argument("--no-endpointing", action="store_true",
                        help="one utterance per stream: turn the server's endpointing rules off")


def _format(result) -> str:  # noqa: ANN001 - a StreamingRecognitionResult
    text = result.alternatives[0].transcript if result.alternatives else ""
    if not result.is_final:
        return f"partial [{result.result_end_ms / 1000:7.2f}s] {text}"
    words = " ".join(f"{w.word}({w.start_ms / 1000:.2f}-{w.end_ms / 1000:.2f})"
                     for w in result.alternatives[0].words) if result.alternatives else ""
    return f"final   [{result.result_end_ms / 1000:7.2f}s] #{result.utterance_index} {text}\n        {words}"


def _run_stream(args: argparse.Namespace) -> int:
    import grpc
    from transduce.service.client import StreamOptions, stream_file
    from transduce.service.protos import asr_pb2

    if not Path(args.file).is_file():
        raise CommandError(f"{args.file}: no such audio file")
    off = asr_pb2.EndpointingConfig(trailing_silence_after_speech_ms=-1, trailing_silence_no_speech_ms=-1,
                                    max_utterance_ms=-1)
    opts = StreamOptions(interim=args.interim, realtime=args.realtime, chunk_ms=args.chunk_ms,
                         model=args.model, token=args.token, endpointing=off if args.no_endpointing else None,
                         tls_ca=args.tls_ca, lookahead_ms=args.lookahead_ms)

    async def main() -> None:
        async for response in stream_file(args.server, args.file, opts):
            for result in response.results:
                print(_format(result), flush=True)

    try:
        asyncio.run(main())
    except grpc.aio.AioRpcError as e:
        print(f"transduce stream: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - unreadable audio and the like: one line, not a traceback
        raise CommandError(f"{args.file}: {e}") from None
    return 0


COMMAND = Command(
    name="serve",
    help="Run the gRPC speech recognition server (streaming + unary, health, reflection).",
    add_arguments=_serve_arguments,
    run=_run_serve,
)

STREAM_COMMAND = Command(
    name="stream",
    help="Stream an audio file to a transduce server and print partial and final results.",
    add_arguments=_stream_arguments,
    run=_run_stream,
)
