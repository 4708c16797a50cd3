import io

from relay_client.cli.progress import REPORT_EVERY_S, TransferBar

MIB = 1024 * 1024


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_off_a_terminal_a_line_is_printed_every_ten_percent():
    stream, clock = io.StringIO(), Clock()
    with TransferBar("downloading big.iso", stream=stream, clock=clock) as bar:
        for percent in range(101):
            clock.now += 0.01
            bar(percent * MIB, 100 * MIB)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "downloading big.iso: 0 B of 100.0 MiB (0%)"
    assert [line.split("(")[1].split(")")[0] for line in lines[:-1]] == [
        f"{p}%" for p in range(0, 101, 10)
    ]
    assert lines[4].startswith("downloading big.iso: 40.0 MiB of 100.0 MiB (40%), ")
    assert lines[4].endswith(" MiB/s")
    assert lines[-1] == "downloading big.iso: done, 100.0 MiB in 1 s, 100.0 MiB/s"


def test_off_a_terminal_a_slow_transfer_prints_a_line_every_few_seconds():
    stream, clock = io.StringIO(), Clock()
    with TransferBar("uploading x", stream=stream, clock=clock) as bar:
        for second in range(21):
            clock.now = 100.0 + second
            bar(second * 1024, None)  # total unknown: no percentages
    lines = stream.getvalue().splitlines()
    assert lines == [
        "uploading x: 0 B",
        "uploading x: 5.0 KiB, 1.0 KiB/s",
        "uploading x: 10.0 KiB, 1.0 KiB/s",
        "uploading x: 15.0 KiB, 1.0 KiB/s",
        "uploading x: 20.0 KiB, 1.0 KiB/s",
        "uploading x: done, 20.0 KiB in 20 s, 1.0 KiB/s",
    ]
    assert REPORT_EVERY_S == 5.0


def test_a_transfer_that_fails_prints_no_done_line():
    stream = io.StringIO()
    try:
        with TransferBar("downloading x", stream=stream, clock=Clock()) as bar:
            bar(0, 10)
            raise OSError("cut")
    except OSError:
        pass
    assert "done" not in stream.getvalue()


def test_a_disabled_bar_prints_nothing():
    stream = io.StringIO()
    with TransferBar("downloading x", enabled=False, stream=stream, clock=Clock()) as bar:
        bar(5, 10)
    assert stream.getvalue() == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_it_is_still_a_bar_not_lines():
    stream = Terminal()
    with TransferBar("downloading x", stream=stream, clock=Clock()) as bar:
        bar(5 * MIB, 10 * MIB)
        bar(10 * MIB, 10 * MIB)
    assert "downloading x" in stream.getvalue()
    assert " of " not in stream.getvalue()
