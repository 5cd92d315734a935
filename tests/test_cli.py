"""The command line renders its help everywhere (a crash here once went unnoticed) and lists its
commands when called bare."""
import argparse
import subprocess
import sys

import pytest

from cxrgen_bench.cli import COMMANDS, build_parser, main


def all_command_paths(parser: argparse.ArgumentParser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from all_command_paths(sub, prefix + (name,))


def test_bare_command_lists_every_command_with_one_line(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert any(line.split()[:1] == [name] for line in out.splitlines()), name


@pytest.mark.parametrize("path", [(), *all_command_paths(build_parser())], ids=lambda p: " ".join(p) or "top")
def test_every_help_renders(path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0
    assert "usage: cxrgen-bench" in capsys.readouterr().out


def test_module_entry_point_help():
    done = subprocess.run([sys.executable, "-m", "cxrgen_bench", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "COMMAND" in done.stdout and "Traceback" not in done.stderr


def test_unknown_command_is_an_argparse_error_not_a_traceback(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["frobnicate"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
