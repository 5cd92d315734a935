"""Progress display: a line every 10 s with rate and ETA in logs, a closing line, silence when disabled."""
import io

from cxrgen_bench.progress import LINE_EVERY_S, Progress


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_log_lines_every_ten_seconds_with_rate_and_eta():
    stream, clock = io.StringIO(), Clock()
    with Progress(100, "features x", "images", stream=stream, clock=clock) as bar:
        for _ in range(100):
            clock.t += 0.5  # 2 images/s
            bar.update(1)
    lines = stream.getvalue().splitlines()
    # 50 s of work: a line at 10, 20, 30, 40 (and 50, the end) s, then the closing line
    assert len(lines) == int(50 / LINE_EVERY_S) + 1
    assert lines[0] == "[cxrgen-bench] features x: 20/100 images, 2.00 images/s, ETA 00:00:40"
    assert lines[-1] == "[cxrgen-bench] features x: 100/100 images, 2.00 images/s, done in 50.0 s"


def test_short_stages_stay_quiet_in_logs():
    stream, clock = io.StringIO(), Clock()
    with Progress(4, "quick", "images", stream=stream, clock=clock) as bar:
        clock.t += 1.0
        bar.update(4)
    with Progress(4, "slower", "images", stream=stream, clock=clock) as bar:
        clock.t += 3.0
        bar.update(4)
    assert stream.getvalue() == "[cxrgen-bench] slower: 4/4 images, 1.33 images/s, done in 3.0 s\n"


def test_disabled_is_silent_and_nothing_done_says_nothing():
    stream = io.StringIO()
    with Progress(10, "x", stream=stream, enabled=False) as bar:
        bar.update(10)
    with Progress(10, "cached", stream=stream, initial=10):
        pass
    assert stream.getvalue() == ""
    assert bar.done == 10


def test_terminal_gets_a_tqdm_bar():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    with Progress(4, "generate", "images", stream=stream) as bar:
        bar.update(4)
    assert "generate" in stream.getvalue() and "4/4" in stream.getvalue()
