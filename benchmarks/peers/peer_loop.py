"""One peer pipeline doing `moldpilot replay --every-frame`'s work, run inside that peer's own venv.

    VENV/bin/python benchmarks/peers/peer_loop.py --which naive|supervision|roboflow VIDEO MODEL.onnx

Standalone on purpose (numpy, OpenCV, onnxruntime and the peer's library only; nothing of MoldPilot), so
each peer runs as a user of that library would run it. Per frame: crop every cavity ROI of
VIDEO.timeline.json, resize it to the model card's input with the card's interpolation, run all crops of
the frame as one batch, P(defect) = 1 - P(ok), NG at P >= the card's threshold. Prints one JSON object:
frames, parts, ng, `flags` (every part's NG flag, '0'/'1', frame by frame, cavity by cavity),
`digest` (sha1 of every P(defect) to 4 decimals in the same order) and wall stamps (time.time()) of the
first and last verdict, from
which benchmarks/bench_peers.py takes start-up and steady-state frames/s.

- naive: `cv2.VideoCapture.read()` in a loop.
- supervision: `supervision.get_video_frames_generator`.
- roboflow: `InferencePipeline.init_with_custom_logic` (streamvision, or inference-core) with the
  buffer strategies that drop nothing (WAIT + LAZY); its telemetry is switched off first, and since it
  swallows exceptions in the custom logic the frame count is checked by the caller.
"""

import argparse
import hashlib
import json
import os
import time


def load_job(video, model):
    import cv2
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    card = json.loads(sess.get_modelmeta().custom_metadata_map["moldpilot.card"])
    with open(video + ".timeline.json") as f:
        rois = [tuple(c["roi_xywh"]) for c in sorted(json.load(f)["cavities"], key=lambda c: c["id"])]
    spec = card["input"]
    size_wh = (spec["resize"]["width"], spec["resize"]["height"])
    interpolation = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}[spec["resize"]["interpolation"]]
    ok = card["class_names"].index(card["ok_class"])
    output = next(o["name"] for o in card["outputs"] if o["kind"] == "classifier")

    def judge(frame):
        crops = np.stack([cv2.resize(frame[y:y + h, x:x + w], size_wh, interpolation=interpolation)
                          for x, y, w, h in rois])
        return np.clip(1.0 - sess.run([output], {spec["name"]: crops})[0][:, ok], 0.0, 1.0).tolist()

    return judge, float(card["threshold"])


class Tally:
    def __init__(self, threshold):
        self.threshold, self.frames, self.parts, self.ng = threshold, 0, 0, 0
        self.digest, self.flags = hashlib.sha1(), []
        self.first_wall = self.last_wall = None

    def add(self, p_defect):
        for p in p_defect:
            self.digest.update(f"{p:.4f},".encode())
            self.ng += p >= self.threshold
            self.flags.append("1" if p >= self.threshold else "0")
        self.frames += 1
        self.parts += len(p_defect)
        self.last_wall = time.time()
        self.first_wall = self.first_wall or self.last_wall


def naive(video, judge, tally):
    import cv2

    cap = cv2.VideoCapture(video)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        tally.add(judge(frame))
    cap.release()


def supervision(video, judge, tally):
    import supervision as sv

    for frame in sv.get_video_frames_generator(source_path=video):
        tally.add(judge(frame))


def roboflow(video, judge, tally):
    for key, value in {"OFFLINE_MODE": "True", "DISABLE_VERSION_CHECK": "True", "METRICS_ENABLED": "False",
                       "ACTIVE_LEARNING_ENABLED": "False"}.items():
        os.environ.setdefault(key, value)
    try:
        from streamvision.camera.video_source import BufferConsumptionStrategy, BufferFillingStrategy
        from streamvision.stream.pipeline import InferencePipeline
    except ImportError:
        from inference.core.interfaces.camera.video_source import (
            BufferConsumptionStrategy,
            BufferFillingStrategy,
        )
        from inference.core.interfaces.stream.inference_pipeline import InferencePipeline

    pipeline = InferencePipeline.init_with_custom_logic(
        video_reference=video,
        on_video_frame=lambda frames: [{"p_defect": judge(f.image)} for f in frames],  # one per source
        on_prediction=lambda prediction, _frame: tally.add(prediction["p_defect"]),
        source_buffer_filling_strategy=BufferFillingStrategy.WAIT,
        source_buffer_consumption_strategy=BufferConsumptionStrategy.LAZY,
        max_fps=None,
    )
    pipeline.start(use_main_thread=True)
    pipeline.join()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--which", choices=["naive", "supervision", "roboflow"], required=True)
    parser.add_argument("video")
    parser.add_argument("model")
    args = parser.parse_args()
    judge, threshold = load_job(args.video, args.model)
    tally = Tally(threshold)
    {"naive": naive, "supervision": supervision, "roboflow": roboflow}[args.which](args.video, judge, tally)
    print(json.dumps({"which": args.which, "frames": tally.frames, "parts": tally.parts, "ng": int(tally.ng),
                      "digest": tally.digest.hexdigest(), "flags": "".join(tally.flags),
                      "first_verdict_wall": tally.first_wall,
                      "last_verdict_wall": tally.last_wall}))


if __name__ == "__main__":
    main()
