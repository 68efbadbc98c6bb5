"""doctor's MQTT check names a TLS failure as what it is, with the same words as the runtime's log."""

from __future__ import annotations

from pathlib import Path

from edge.config import MqttSection, TlsSection
from edge.doctor.broker import check_broker
from edge.doctor.result import Status
from tests.mosquitto import make_test_ca


def test_doctor_names_a_wrong_ca(mosquitto_factory, tmp_path: Path) -> None:
    served = make_test_ca(tmp_path / "served")
    broker = mosquitto_factory(tls=served)
    other = make_test_ca(tmp_path / "other").ca
    result = check_broker(MqttSection(port=broker.port, tls=TlsSection(ca=str(other))))
    assert result.status is Status.FAIL and "cannot reach" not in result.detail
    assert f"not trusted by mqtt.tls.ca {other}" in result.detail
