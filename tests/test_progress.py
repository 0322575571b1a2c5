"""Messages go through ``logging`` and long loops through one progress display: a bar on a
terminal, plain log lines elsewhere (``jaxattr._util._log``)."""

import io
import logging
import time

from jaxattr._util._log import Progress, cli_logging, get_logger, records_to


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_off_a_terminal(caplog):
    log = get_logger("test")
    caplog.set_level(logging.INFO, logger=log.name)
    with Progress(log, 3, desc="jobs", unit="job") as p:
        assert not p.shows_bar  # caplog's handler is no terminal
        p("first", 1)
        p(None, 1)  # counts, says nothing
        p("third", 1)
        assert p.done == 3
    assert [r.getMessage() for r in caplog.records] == ["first", "third"]
    assert all(r.levelno == logging.INFO and r.name == "jaxattr.test" for r in caplog.records)


def test_disabled_display_says_nothing(caplog):
    log = get_logger("test")
    caplog.set_level(logging.DEBUG, logger=log.name)
    p = Progress(log, 2, enabled=False)
    p("hidden", 1)
    assert not caplog.records and not p.shows_bar


def test_a_bar_on_a_terminal_with_messages_above_it():
    term = _Terminal()
    log = get_logger("test")
    with cli_logging(term):
        with Progress(log, 2, desc="jobs", unit="job") as p:
            assert p.shows_bar
            log.info("a message")  # written above the bar, not through it
            time.sleep(0.15)  # tqdm redraws at most every 0.1 s
            p("item line", 1)  # per-item lines go to DEBUG while a bar shows the count
            time.sleep(0.15)
            p(None, 1)
    text = term.getvalue()
    assert "a message\n" in text and "item line" not in text
    assert "2/2" in text and "job/s" in text  # the bar: count and rate
    assert Progress.active == 0


def test_records_to_adds_a_stream_once_and_removes_it():
    log = get_logger("test")
    out = io.StringIO()
    with records_to(out, log.name):
        log.info("shown")
    log.info("not shown")  # the handler is gone again
    assert out.getvalue() == "shown\n"
    with cli_logging(out):  # the command line already shows records on `out`
        with records_to(out, log.name):
            log.info("once")
    assert out.getvalue().count("once") == 1


def test_library_calls_are_silent_unless_logging_is_configured(capsys):
    log = get_logger("test")
    with Progress(log, 1) as p:
        p("quiet", 1)
    assert capsys.readouterr() == ("", "")
