"""`transduce format`: lines in (files or stdin), one written line out per line, as TextRewriter gives."""

import subprocess
import sys
from pathlib import Path

from transduce.asr.text.rewriter import TextRewriter

from transduce.cli import main as cli_main

SCRIPT = str(Path(sys.executable).parent / "transduce")
LINES = ["the train leaves at ten thirty", "", "it costs twelve dollars fifty", "i think so"]


def test_files_and_stdin_give_one_written_line_per_line(tmp_path, text_model_dir, capsys):
    expected = TextRewriter.load(text_model_dir)(LINES)
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("\n".join(LINES[:2]) + "\n")
    b.write_text("\n".join(LINES[2:]))  # no newline at the end
    assert cli_main(["format", str(a), str(b), "--model", str(text_model_dir), "--batch-size", "3"]) == 0
    assert capsys.readouterr().out.split("\n") == expected + [""]
    assert expected[1] == ""
    piped = subprocess.run([SCRIPT, "format", "--model", str(text_model_dir), "--method", "greedy"],
                           input="\n".join(LINES) + "\n", capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stdout.split("\n") == expected + [""]


def test_bad_input_is_one_message_and_status_2(tmp_path, text_model_dir, capsys):
    long = tmp_path / "long.txt"
    long.write_text("fine\n" + "word " * 10 + "\n")
    assert cli_main(["format", str(long), "--model", str(text_model_dir), "--max-chars", "20"]) == 2
    captured = capsys.readouterr()
    assert f"{long}:2: the line has 50 characters; at most 20" in captured.err and captured.out == ""
    assert cli_main(["format", str(tmp_path / "missing.txt"), "--model", str(text_model_dir)]) == 2
    assert "missing.txt: No such file or directory" in capsys.readouterr().err
    assert cli_main(["format", str(long), "--model", str(tmp_path / "nowhere")]) == 2
    assert "--model" in capsys.readouterr().err
