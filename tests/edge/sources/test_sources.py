"""Frame sources against real things: video files written by cv2.VideoWriter, PNG folders, and a live
MJPEG-over-HTTP stream served on 127.0.0.1 that OpenCV's FFmpeg backend reads like an IP camera.

Only the GenICam camera is faked (a stand-in `harvesters` module), since none can be attached here;
its missing-extra message is tested for real, harvesters not being installed.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.sources import (
    FolderSource,
    GenicamSource,
    Reconnecting,
    SimSource,
    SourceError,
    SourceLost,
    VideoCaptureSource,
    build_source,
    open_source,
)
from edge.sources.genicam import MISSING_EXTRA, buffer_to_bgr
from edge.sources.opencv import to_bgr
from sim.footage import FootagePlan, FootageSettings

WAIT_S = 10.0  # upper bound for any condition below; they are normally met in milliseconds


def grey(level: int, shape: tuple[int, int] = (48, 64)) -> np.ndarray:
    return np.full((*shape, 3), level, np.uint8)


def write_video(path: Path, n_frames: int, fps: float = 10.0) -> Path:
    """MJPG .avi where frame i is flat grey 10 + 10 i, so order survives JPEG."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    assert writer.isOpened()
    for i in range(n_frames):
        writer.write(grey(10 + 10 * i))
    writer.release()
    return path


def level(image: np.ndarray) -> int:
    return round(float(image.mean()))


def read_all(source: VideoCaptureSource | FolderSource) -> list[np.ndarray]:
    frames = []
    while (image := source.read()) is not None:
        frames.append(image)
    return frames


# --- file -------------------------------------------------------------------------------------------


def test_file_reads_every_frame_in_order(tmp_path: Path) -> None:
    source = VideoCaptureSource.file(write_video(tmp_path / "shots.avi", 12))
    source.open()
    frames = read_all(source)
    assert [level(f) for f in frames] == pytest.approx([10 + 10 * i for i in range(12)], abs=2)
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert frames[0] is not frames[1] and level(frames[0]) != level(frames[1])  # caller owns each array
    assert (source.frame_count, source.frames_read, source.truncated) == (12, 12, False)
    assert source.fps == pytest.approx(10.0)
    assert not source.is_live
    source.close()


def test_truncated_file_gives_what_decodes_then_ends_and_says_so(tmp_path: Path) -> None:
    video = write_video(tmp_path / "shots.avi", 20)
    data = video.read_bytes()
    frames_start = data.index(b"movi")  # cut the frame data in half, not the ~5 kB AVI header
    video.write_bytes(data[: frames_start + (len(data) - frames_start) // 2])
    source = VideoCaptureSource.file(video)
    source.open()
    frames = read_all(source)
    assert 0 < len(frames) < 20
    assert [level(f) for f in frames] == pytest.approx([10 + 10 * i for i in range(len(frames))], abs=2)
    assert source.truncated and source.frames_read == len(frames) and source.frame_count == 20
    assert source.read() is None  # the end stays the end
    source.close()


def test_garbage_inside_a_video_is_survived_and_reported(tmp_path: Path) -> None:
    video = write_video(tmp_path / "shots.avi", 20)
    data = bytearray(video.read_bytes())
    frames_start = data.index(b"movi")
    middle = frames_start + (len(data) - frames_start) // 2
    data[middle : middle + 1000] = np.random.default_rng(1).integers(0, 256, 1000, np.uint8).tobytes()
    video.write_bytes(bytes(data))
    source = VideoCaptureSource.file(video)
    source.open()
    frames = read_all(source)
    assert 0 < len(frames) <= 20
    assert source.truncated == (source.frames_read < 20)
    source.close()


def test_non_video_file_is_a_source_error(tmp_path: Path) -> None:
    junk = tmp_path / "shots.avi"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    with pytest.raises(SourceError, match=f"not a readable video: {junk}"):
        VideoCaptureSource.file(junk).open()


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=f"video file not found: {tmp_path / 'nope.avi'}"):
        VideoCaptureSource.file(tmp_path / "nope.avi").open()


# --- folder -----------------------------------------------------------------------------------------


def test_folder_order_names_and_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "ng" / "flash").mkdir(parents=True)
    (tmp_path / "ok").mkdir()
    cv2.imwrite(str(tmp_path / "ok" / "b.png"), grey(30))
    cv2.imwrite(str(tmp_path / "ok" / "a.jpg"), grey(20))
    cv2.imwrite(str(tmp_path / "ng" / "flash" / "001.bmp"), grey(10))
    cv2.imwrite(str(tmp_path / "mono.png"), np.full((48, 64), 40, np.uint8))
    cv2.imwrite(str(tmp_path / "zz_alpha.tif"), np.full((48, 64, 4), 50, np.uint8))
    (tmp_path / "ok" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")

    source = FolderSource(tmp_path)
    source.open()
    assert source.frame_count == 6
    seen = []
    while (image := source.read()) is not None:
        assert image.shape == (48, 64, 3) and image.dtype == np.uint8
        seen.append((source.last_name, level(image)))
    assert seen == [
        ("mono.png", 40),
        ("ng/flash/001.bmp", 10),
        ("ok/a.jpg", 20),
        ("ok/b.png", 30),
        ("zz_alpha.tif", 50),
    ]
    assert source.unreadable == ["ok/broken.png"]
    source.close()


def test_folder_missing_or_empty_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="image folder not found"):
        FolderSource(tmp_path / "nope").open()
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match="no images in"):
        FolderSource(tmp_path).open()


# --- colour conversion ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "expected_bgr"),
    [
        (np.full((4, 5), 7, np.uint8), (7, 7, 7)),
        (np.full((4, 5, 1), 7, np.uint8), (7, 7, 7)),
        (np.dstack([np.full((4, 5), v, np.uint8) for v in (1, 2, 3, 255)]), (1, 2, 3)),
    ],
)
def test_mono_and_bgra_become_bgr(image: np.ndarray, expected_bgr: tuple[int, int, int]) -> None:
    bgr = to_bgr(image)
    assert bgr.shape == (4, 5, 3) and tuple(bgr[0, 0]) == expected_bgr


def test_sixteen_bit_frames_are_refused_with_the_fix() -> None:
    with pytest.raises(SourceError, match="8-bit format"):
        to_bgr(np.zeros((4, 5), np.uint16))


# --- live stream and reconnect ----------------------------------------------------------------------


class MjpegServer:
    """multipart/x-mixed-replace JPEG stream on 127.0.0.1, as IP cameras serve it; stoppable and
    restartable on the same port, and every client connection is cut when it stops."""

    def __init__(self) -> None:
        self.port = 0
        self.level = 100
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> None:
        stop, jpeg = self._stop, cv2.imencode(".jpg", grey(self.level))[1].tobytes()
        stop.clear()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                threading.current_thread().name = "mjpeg-client"
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                while not stop.is_set():
                    try:
                        self.wfile.write(part + jpeg + b"\r\n")
                    except OSError:
                        return
                    stop.wait(0.02)  # ~50 fps

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="mjpeg-server")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()  # handlers return, which closes every client connection
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(WAIT_S)
            self._server = None


@pytest.fixture
def mjpeg() -> Iterator[MjpegServer]:
    server = MjpegServer()
    server.start()
    yield server
    server.stop()


class Reader:
    """Reads a source on a named thread into a bounded queue, as the capture loop will."""

    def __init__(self, source: Reconnecting, stop: threading.Event) -> None:
        self.frames: queue.Queue[np.ndarray] = queue.Queue(maxsize=8)
        self._source, self._stop = source, stop
        self.thread = threading.Thread(target=self._run, name="test-capture")
        self.thread.start()

    def _run(self) -> None:
        while (image := self._source.read()) is not None:
            try:
                self.frames.put_nowait(image)
            except queue.Full:  # latest frames matter, as in free-run
                self.frames.get_nowait()
                self.frames.put_nowait(image)

    def frame_with_level(self, wanted: int) -> np.ndarray:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            image = self.frames.get(timeout=WAIT_S)
            if abs(level(image) - wanted) <= 3:
                return image
        raise AssertionError(f"no frame at level {wanted} within {WAIT_S} s")


def test_stream_that_disappears_and_returns_is_reconnected(mjpeg: MjpegServer) -> None:
    stop = threading.Event()
    events: dict[str, threading.Event] = {"lost": threading.Event(), "ok": threading.Event()}
    changes: list[str] = []

    def on_change(state: str, detail: str) -> None:
        changes.append(state)
        if state in events:
            events[state].set()

    source = open_source("rtsp", mjpeg.url, reconnect_max_s=0.2, stop_event=stop, on_state_change=on_change)
    assert isinstance(source, Reconnecting) and source.is_live
    events["ok"].clear()  # set by the first open
    reader = Reader(source, stop)
    reader.frame_with_level(100)

    mjpeg.stop()
    assert events["lost"].wait(WAIT_S)
    mjpeg.level = 200  # frames after the recovery are told apart from buffered old ones
    mjpeg.start()
    assert events["ok"].wait(WAIT_S)
    reader.frame_with_level(200)

    stats = source.stats()
    assert (stats.state, stats.losses, stats.recoveries) == ("ok", 1, 1)
    assert stats.reconnect_attempts >= 1 and stats.last_error
    stop.set()
    reader.thread.join(WAIT_S)
    assert not reader.thread.is_alive()
    source.close()
    assert changes == ["ok", "lost", "ok", "closed"]


def test_stop_ends_a_reconnect_wait_at_once(mjpeg: MjpegServer) -> None:
    stop = threading.Event()
    lost = threading.Event()
    source = Reconnecting(
        VideoCaptureSource.stream(mjpeg.url),
        stop,
        backoff_s=(60.0,),
        reconnect_max_s=60.0,
        on_state_change=lambda state, detail: lost.set() if state == "lost" else None,
    )
    source.open()
    reader = Reader(source, stop)
    reader.frame_with_level(100)
    mjpeg.stop()
    assert lost.wait(WAIT_S)
    started = time.monotonic()
    stop.set()
    reader.thread.join(WAIT_S)
    assert not reader.thread.is_alive() and time.monotonic() - started < 2.0
    assert source.stats().reconnect_attempts == 0  # it was still in its 60 s wait
    source.close()
    assert source.state == "closed"


def test_a_camera_not_up_at_start_is_waited_for(mjpeg: MjpegServer) -> None:
    """Issue 17 item 14: a camera that boots after the PC must not stop the station. It starts lost (the
    camera-lost alert fires), and its first frame arrives once it is up."""
    mjpeg.stop()  # the port is now closed: connection refused
    stop = threading.Event()
    changes: list[tuple[str, str]] = []
    source = open_source("rtsp", mjpeg.url, reconnect_max_s=0.2, stop_event=stop,
                         on_state_change=lambda state, detail: changes.append((state, detail)))
    assert isinstance(source, Reconnecting) and source.stats().state == "lost"
    assert changes and changes[0][0] == "lost" and "not up at start" in changes[0][1]
    mjpeg.level = 150
    mjpeg.start()
    reader = Reader(source, stop)
    reader.frame_with_level(150)
    assert source.stats().recoveries == 1 and [state for state, _ in changes] == ["lost", "ok"]
    stop.set()
    reader.thread.join(WAIT_S)
    source.close()


def test_a_live_source_read_failure_is_a_loss(mjpeg: MjpegServer) -> None:
    source = VideoCaptureSource.stream(mjpeg.url)
    source.open()
    assert source.read() is not None
    mjpeg.stop()
    with pytest.raises(SourceLost):
        for _ in range(1000):  # frames FFmpeg buffered before the cut come first
            source.read()
    source.close()


# --- factory ----------------------------------------------------------------------------------------


def test_factory_kinds(tmp_path: Path) -> None:
    stop = threading.Event()
    video = open_source("file", str(write_video(tmp_path / "v.avi", 3)), reconnect_max_s=1, stop_event=stop)
    assert isinstance(video, VideoCaptureSource) and video.frame_count == 3
    video.close()
    cv2.imwrite(str(tmp_path / "one.png"), grey(5))
    folder = open_source("folder", str(tmp_path), reconnect_max_s=1, stop_event=stop)
    assert isinstance(folder, FolderSource) and folder.frame_count == 1
    folder.close()
    assert isinstance(build_source("camera", "0"), VideoCaptureSource)
    assert isinstance(build_source("genicam", "/x.cti"), GenicamSource)


@pytest.mark.parametrize(
    ("kind", "uri", "message"),
    [
        ("camera", "front", "expected an index"),
        ("rtsp", "ftp://cam/stream", "must start with one of rtsp://"),
        ("genicam", "/opt/vendor/producer.cti", "pip install 'moldpilot\\[genicam\\]'"),
        ("sim", "seed=7,colour=red", "unknown setting 'colour'"),
        ("sim", "shots=3", "the seed is missing"),
        ("sim", "seed=7,cavities=3", "cavities must be one of"),
        ("usb", "0", "unknown source.kind"),
    ],
)
def test_factory_refuses_with_the_fix(kind: str, uri: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        open_source(kind, uri, reconnect_max_s=1, stop_event=threading.Event())


# --- simulator --------------------------------------------------------------------------------------


def test_sim_source_renders_the_footage_frames_in_order() -> None:
    source = open_source(
        "sim",
        "seed=3, shots=2, cavities=2, fps=4, cycle_s=1",
        reconnect_max_s=1,
        stop_event=threading.Event(),
    )
    assert isinstance(source, SimSource) and not source.is_live
    assert (source.frame_count, source.fps) == (8, 4.0)
    frames = [source.read() for _ in range(8)]
    assert source.read() is None
    assert source.plan is not None
    assert all(f is not None and f.shape == (*source.plan.layout.frame_wh[::-1], 3) for f in frames)
    again = FootagePlan(FootageSettings(shots=2, seed=3, cavities=2, fps=4, cycle_s=1))
    assert np.array_equal(frames[5], again.frame(5))  # same seed, same pixels
    assert [s.shot for s in source.plan.timeline("sim").shots] == [1, 2]
    source.close()


# --- GenICam (no camera here: harvesters is faked, the rest is real) --------------------------------


def test_genicam_without_the_extra_says_how_to_install_it() -> None:
    assert "harvesters" not in sys.modules
    with pytest.raises(SourceError) as caught:
        GenicamSource("/opt/vendor/producer.cti").open()
    assert str(caught.value) == MISSING_EXTRA


@pytest.mark.parametrize(
    ("pixel_format", "channels", "expected_bgr"),
    [("Mono8", 1, (9, 9, 9)), ("RGB8", 3, (3, 2, 1)), ("BGR8", 3, (1, 2, 3)), ("BGRa8", 4, (1, 2, 3))],
)
def test_genicam_buffers_become_bgr(pixel_format: str, channels: int, expected_bgr: tuple[int, ...]) -> None:
    pixel = [9] if channels == 1 else [1, 2, 3, 255][:channels]
    data = np.tile(np.array(pixel, np.uint8), 4 * 5)
    image = buffer_to_bgr(data, width=5, height=4, pixel_format=pixel_format)
    assert image.shape == (4, 5, 3) and tuple(image[3, 4]) == expected_bgr
    assert not np.shares_memory(image, data)  # the driver reuses its buffer once it is queued back


def test_genicam_unsupported_pixel_format_names_the_supported_ones() -> None:
    with pytest.raises(SourceError, match="set PixelFormat on the camera to one of Mono8"):
        buffer_to_bgr(np.zeros(20, np.uint8), 5, 4, "BayerRG8")


def fake_harvesters(frames: list[np.ndarray | None]) -> types.ModuleType:
    """The slice of harvesters' documented API the source uses, delivering Mono8 `frames`."""
    calls: list[str] = []

    class Buffer:
        def __init__(self, image: np.ndarray) -> None:
            component = types.SimpleNamespace(
                data=image.ravel(), width=image.shape[1], height=image.shape[0], data_format="Mono8"
            )
            self.payload = types.SimpleNamespace(components=[component])

        def __enter__(self) -> Buffer:
            return self

        def __exit__(self, *exc: object) -> None:
            calls.append("queue")

    class Acquirer:
        def start(self) -> None:
            calls.append("start")

        def try_fetch(self, timeout: float) -> Buffer | None:
            image = frames.pop(0)
            return None if image is None else Buffer(image)

        def stop(self) -> None:
            calls.append("stop")

        def destroy(self) -> None:
            calls.append("destroy")

    class Harvester:
        def __init__(self) -> None:
            self.device_info_list = [types.SimpleNamespace(serial_number="SN1")]

        def add_file(self, path: str) -> None:
            calls.append(f"add_file {Path(path).name}")

        def update(self) -> None:
            calls.append("update")

        def create(self, search: dict[str, str] | None = None) -> Acquirer:
            if search and search["serial_number"] != "SN1":
                raise ValueError(f"no device matches {search}")
            calls.append(f"create {search}")
            return Acquirer()

        def reset(self) -> None:
            calls.append("reset")

    core = types.ModuleType("harvesters.core")
    core.Harvester = Harvester  # type: ignore[attr-defined]
    core.calls = calls  # type: ignore[attr-defined]
    return core


def test_genicam_acquisition_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cti = tmp_path / "producer.cti"
    cti.write_bytes(b"")
    core = fake_harvesters([np.full((4, 5), 77, np.uint8), None])
    monkeypatch.setitem(sys.modules, "harvesters", types.ModuleType("harvesters"))
    monkeypatch.setitem(sys.modules, "harvesters.core", core)

    with pytest.raises(SourceError, match=r"cameras found: \['SN1'\]"):
        GenicamSource(f"{cti}#SN2").open()
    source = GenicamSource(f"{cti}#SN1", timeout_s=0.1)
    source.open()
    image = source.read()
    assert image is not None and image.shape == (4, 5, 3) and level(image) == 77
    with pytest.raises(SourceLost, match=r"no image within 0\.1 s"):
        source.read()
    source.close()
    assert core.calls[-8:] == [
        "add_file producer.cti", "update", "create {'serial_number': 'SN1'}", "start",
        "queue", "stop", "destroy", "reset",
    ]  # fmt: skip
