"""service layer of transduce (see ARCHITECTURE.md): the gRPC Recognizer service and its client.

server (serve, run_until_signal, ServerConfig) -> wire (registers the handlers; undecodable request
bytes are INVALID_ARGUMENT) -> servicer (proto <-> domain via convert, engine calls) -> engine (a
streaming.Scheduler per model); bounds (every request field checked before allocation), audio_in
(Recognize audio: declared encoding vs bytes, duration, block decoding), errors (RequestError and
short client-facing messages); limits (stream slots, per-stream limits, bearer token);
client (stream_file, open_channel with TLS); cli (`transduce serve`, `transduce stream`); protos (the
generated stubs); observe (the server's metrics and stream-end logs) over metrics (a Prometheus text-format
registry and its HTTP endpoint) and logs (JSON/text log formatters).
"""
