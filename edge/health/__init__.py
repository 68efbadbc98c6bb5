"""Health watch for the camera and the model: "never silently wrong" (issue 20).

    reference.py     what the fixture, parts and scores looked like at commissioning (save / load)
    features.py      the figures measured on a frame, the same for the reference and live frames
    registration.py  how far the view moved (phase correlation + ECC)
    checks.py        camera moved, blocked / dirty lens, focus, lighting, different mold: pure functions
    score_drift.py   PSI / KS of live scores and the NO_DECISION rate
    precedence.py    which condition hides which (one root cause, not five symptoms)
    hysteresis.py    raise after N active samples, clear after M inactive ones
    monitor.py       the state machine: samples in, HealthEvents (new / update / end) and HR 114 bits out
    watch.py         the monitor on its own thread behind a bounded queue of frame copies
    conditions.py    Condition (HR 114 bit numbers), CheckResult; thresholds.py the default bounds;
    texts.py         every alert text in English and Korean

Imports only numpy, OpenCV and edge's leaf modules (frame, verdict, errors): the station wires it.
"""
