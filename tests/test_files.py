"""Files the suite writes are atomic and honour the umask (0644 under 022), not mkstemp's 0600."""
import os
import stat
import subprocess
import sys

import pytest

from cxrgen_bench.files import atomic_path, atomic_write_text


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_files_follow_the_umask(tmp_path, umask):
    target = tmp_path / "board.html"
    code = (f"import os; os.umask({umask}); from cxrgen_bench.files import atomic_write_text; "
            f"atomic_write_text({str(target)!r}, 'x')")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert mode(target) == 0o666 & ~umask


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_results_and_boards_are_readable_by_others(tmp_path):
    from cxrgen_bench.files import UMASK
    from cxrgen_bench.leaderboard.render import build

    from .results_factory import measured

    entry = measured("m")
    entry["name"] = "m"
    written = build([entry], tmp_path)
    for path in written.values():
        assert mode(path) == 0o666 & ~UMASK, path
