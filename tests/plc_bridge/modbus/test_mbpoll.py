"""Interoperability: Debian's `mbpoll`, a Modbus master that is not ours, drives `moldpilot run` (real
pipeline, real ONNX model, 2 cavities) as a PLC programmer would by hand: over Modbus TCP on a loopback
port and over Modbus RTU through a pty cable, it reads the status, writes a trigger, reads the result
block and acknowledges it. Every value is parsed from mbpoll's own output."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from edge.verdict import ErrorCode
from plc_bridge.modbus import register_map as m
from sim.pty_pair import PtyCable
from tests.station_run import start_run, two_cavity_station, wait_for_text
from tests.tiny_model import TINY_CLASSES
from tests.waiting import wait_until

MBPOLL = shutil.which("mbpoll")
pytestmark = pytest.mark.skipif(
    MBPOLL is None, reason="mbpoll is not installed (Debian package mbpoll; `make test` installs it)"
)

UNIT_ID = 5
PART_ID = 100_000  # > 65535: both words of PART_ID (HR 2-3) and of its echo (HR 103-104) are used
WAIT_S = 30.0
REGISTER_LINE = re.compile(r"^\[(\d+)\]:\s+(\d+)", re.MULTILINE)  # "[104]: \t34464 (-31072)"
T = TypeVar("T")


class Mbpoll:
    """mbpoll command lines for one slave: holding registers (-t 4), one poll (-1), 0-based protocol
    addresses (-0) unless `one_based` (mbpoll's default reference numbering, HR n = reference n+1)."""

    def __init__(self, link_args: list[str], target: str) -> None:
        self.link_args, self.target = link_args, target

    def run(self, address: int, args: list[str], one_based: bool = False) -> subprocess.CompletedProcess[str]:
        """mbpoll from HR `address` with `args` (the count, or the target and the values to write)."""
        reference = ["-r", str(address + 1)] if one_based else ["-0", "-r", str(address)]
        command = [str(MBPOLL), *self.link_args, "-a", str(UNIT_ID), "-t", "4", "-1", *reference, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)

    def _ok(self, address: int, args: list[str], one_based: bool = False) -> str:
        done = self.run(address, args, one_based)
        assert done.returncode == 0, f"{' '.join(done.args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def read(self, address: int, count: int, one_based: bool = False) -> list[int]:
        """HR address .. address+count-1 as mbpoll prints them, checked to be those addresses."""
        out = self._ok(address, ["-c", str(count), self.target], one_based)
        rows = [(int(a), int(v)) for a, v in REGISTER_LINE.findall(out)]
        first = address + 1 if one_based else address
        assert [a for a, _ in rows] == list(range(first, first + count)), out
        return [v for _, v in rows]

    def write(self, address: int, values: list[int]) -> None:
        """Write `values` from HR `address` on (0-based); mbpoll must confirm each one."""
        out = self._ok(address, [self.target, *map(str, values)])
        assert f"Written {len(values)} references" in out, out


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(params=["tcp", "rtu"])
def link(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Mbpoll]]:
    """The station's `plc:` section and an mbpoll for the other end. heartbeat_s is long: mbpoll writes
    no heartbeat, and a link fault would clear READY halfway through the test."""
    if request.param == "tcp":
        port = free_tcp_port()
        yield (f"{{protocol: modbus-tcp, host: 127.0.0.1, tcp_port: {port}, unit_id: {UNIT_ID}, "
               "heartbeat_s: 60}", Mbpoll(["-m", "tcp", "-p", str(port)], "127.0.0.1"))
        return
    with PtyCable(tmp_path / "tty", baudrate=115200) as cable:
        yield (f"{{protocol: modbus-rtu, port: {cable.runtime_path}, baudrate: 115200, unit_id: {UNIT_ID}, "
               "heartbeat_s: 60}",
               Mbpoll(["-m", "rtu", "-b", "115200", "-P", "none", "-d", "8", "-s", "1"], str(cable.plc_path)))


def jsonl_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def at(block: list[int], address: int) -> int:
    """One register of a read of HR 100-113."""
    return block[address - m.HR_STATUS]


def test_mbpoll_triggers_reads_the_result_block_and_acknowledges(
    link: tuple[str, Mbpoll], tiny_model: Path, tmp_path: Path
) -> None:
    plc_section, mbpoll = link
    config = two_cavity_station(tmp_path, tiny_model, plc_section, shots=2, seed=11)
    out, log = tmp_path / "verdicts.jsonl", tmp_path / "run.log"
    n_vision = len(m.VISION_BLOCK)
    proc = start_run(config, out, log)
    try:
        wait_for_text(log, "serving on")
        # Idle: ONLINE + READY, nothing pending; the vision heartbeat (HR 109) counts.
        idle = mbpoll.read(m.HR_STATUS, n_vision)
        assert at(idle, m.HR_STATUS) == m.ST_ONLINE | m.ST_READY
        assert at(idle, m.HR_RESULTS_PENDING) == 0 and at(idle, m.HR_RESULTS_DROPPED) == 0
        beat = at(idle, m.HR_VISION_HEARTBEAT)
        wait_until(lambda: mbpoll.read(m.HR_VISION_HEARTBEAT, 1)[0] != beat, "VISION_HEARTBEAT to count")
        # mbpoll's default numbering is 1-based: reference 101 is HR 100.
        assert mbpoll.read(m.HR_STATUS, 1, one_based=True)[0] & m.ST_READY

        # Trigger 1 (RECIPE_ID 0) in one FC16 write of HR 0-5, as step 2 of the handshake.
        hi, lo = m.split_u32(PART_ID)
        mbpoll.write(m.HR_CTRL, [m.CTRL_TRIG_EN | m.CTRL_TRIGGER, 1, hi, lo, 0, 1])
        block = wait_until(lambda: (b := mbpoll.read(m.HR_STATUS, n_vision))[0] & m.ST_RESULT_VALID and b,
                         "RESULT_VALID of trigger 1")
        rows = wait_until(lambda: len(lines := jsonl_lines(out)) == 2 and lines, "both cavities' verdicts")
        verdicts = sorted((json.loads(line) for line in rows), key=lambda v: v["cavity"])
        assert [(v["part_id"], v["seq"], v["recipe_id"]) for v in verdicts] == [(PART_ID, 1, 0)] * 2
        worst = max(v["decision_code"] for v in verdicts)  # NO_DECISION 3 > NG 2 > OK 1
        top = max(verdicts, key=lambda v: v["score"])
        status = at(block, m.HR_STATUS)
        assert status & (m.ST_ONLINE | m.ST_TRIG_ACK | m.ST_RESULT_VALID) == (
            m.ST_ONLINE | m.ST_TRIG_ACK | m.ST_RESULT_VALID)
        assert not status & (m.ST_READY | m.ST_BUSY | m.ST_ERROR | m.ST_OVERRUN)
        assert bool(status & m.ST_OK) == (worst == m.VERDICT_OK) != bool(status & m.ST_NG)
        assert at(block, m.HR_ACK_SEQ) == at(block, m.HR_RESULT_SEQ) == 1
        echo = m.join_u32(at(block, m.HR_PART_ID_ECHO), at(block, m.HR_PART_ID_ECHO + 1))
        assert echo == PART_ID
        assert at(block, m.HR_VERDICT) == worst
        defect_code = TINY_CLASSES.index(top["defect"]) if worst != m.VERDICT_OK else 0
        assert at(block, m.HR_DEFECT_CLASS) == defect_code
        assert at(block, m.HR_SCORE) == round(top["score"] * 1000)
        assert at(block, m.HR_ERROR_CODE) == 0
        assert abs(at(block, m.HR_CYCLE_MS) - max(v["timings_ms"]["total"] for v in verdicts)) <= 1
        rejected = sum(1 << (v["cavity"] - 1) for v in verdicts if v["decision_code"] != m.VERDICT_OK)
        assert at(block, m.HR_CAVITY_NG_MASK) == rejected
        assert at(block, m.HR_RESULTS_PENDING) == 1

        # RESULT_ACK written by mbpoll (FC06 of CTRL = TRIG_EN + RESULT_ACK) is honoured.
        mbpoll.write(m.HR_CTRL, [m.CTRL_TRIG_EN | m.CTRL_RESULT_ACK])
        after = wait_until(lambda: not (b := mbpoll.read(m.HR_STATUS, n_vision))[0] & m.ST_RESULT_VALID and b,
                         "RESULT_VALID to clear after RESULT_ACK")
        assert at(after, m.HR_STATUS) == m.ST_ONLINE | m.ST_READY
        assert at(after, m.HR_RESULTS_PENDING) == 0

        # Trigger 2 names a RECIPE_ID this station does not have: NO_DECISION, error 8, reject both.
        mbpoll.write(m.HR_CTRL, [m.CTRL_TRIG_EN | m.CTRL_TRIGGER, 2, hi, lo + 1, 9, 2])
        block = wait_until(lambda: (b := mbpoll.read(m.HR_STATUS, n_vision))[0] & m.ST_RESULT_VALID and b,
                         "RESULT_VALID of trigger 2")
        assert at(block, m.HR_RESULT_SEQ) == 2 and at(block, m.HR_PART_ID_ECHO + 1) == lo + 1
        assert at(block, m.HR_STATUS) & m.ST_NG and not at(block, m.HR_STATUS) & m.ST_OK
        assert at(block, m.HR_VERDICT) == m.VERDICT_NO_DECISION
        assert at(block, m.HR_ERROR_CODE) == ErrorCode.UNKNOWN_RECIPE
        assert at(block, m.HR_CAVITY_NG_MASK) == 0b11
        mbpoll.write(m.HR_CTRL, [m.CTRL_TRIG_EN | m.CTRL_RESULT_ACK])
        wait_until(lambda: mbpoll.read(m.HR_STATUS, 1)[0] == m.ST_ONLINE | m.ST_READY, "READY after ACK 2")
        # A write into the vision block is refused (exception 02), not taken.
        refused = mbpoll.run(m.HR_STATUS, [mbpoll.target, "0"])
        assert refused.returncode != 0 and "Illegal data address" in refused.stderr
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, log.read_text()
    final = json.loads(stdout.decode().strip().splitlines()[-1])["plc"]
    assert final["triggers"] == 2 and final["results_acked"] == 2
