"""Broker check: the MQTT broker is reachable and accepts the station's credentials (and TLS).

One real CONNECT with the settings `moldpilot run` would use, under a client id of its own: a doctor
connecting with the station's id would kick a running station off the broker. MQTT 5 first; with
protocol auto, a broker that refuses v5 is asked again in 3.1.1, as the publisher does.
"""

from __future__ import annotations

import os
import ssl
import threading

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import MqttSection
from edge.doctor.result import CheckResult, failed, passed
from plc_bridge.mqtt.publisher import connect_failure

NAME = "MQTT broker"
TIMEOUT_S = 5.0
_CREDENTIAL_REASONS = ("Bad user name or password", "Not authorized")
_NO_V5 = ("Unsupported protocol version", "Unacceptable protocol version")


def check_broker(mqtt: MqttSection) -> CheckResult:
    where = f"{mqtt.host}:{mqtt.port}"
    credentials: dict[str, str | None] = {}
    for key, env_name in (("username", mqtt.username_env), ("password", mqtt.password_env)):
        if env_name is not None and env_name not in os.environ:
            return failed(NAME, f"mqtt.{key}_env names {env_name}, which is not set in this environment",
                          f"export {env_name}=... (for the service: Environment= or EnvironmentFile= in the "
                          "systemd unit)")
        credentials[key] = os.environ.get(env_name) if env_name else None
    version = MQTTProtocolVersion.MQTTv311 if mqtt.protocol == "3.1.1" else MQTTProtocolVersion.MQTTv5
    try:
        reason = _connect(mqtt, version, credentials["username"], credentials["password"])
        if reason is not None and str(reason) in _NO_V5 and mqtt.protocol == "auto":
            version = MQTTProtocolVersion.MQTTv311
            reason = _connect(mqtt, version, credentials["username"], credentials["password"])
    except ssl.SSLError as exc:  # a TLS failure is not an outage: say which (the fix is in the text)
        ca = mqtt.tls.ca if mqtt.tls else None
        return failed(NAME, connect_failure(mqtt.host, mqtt.port, ca, exc),
                      "compare the broker's certificate (`openssl s_client -connect HOST:PORT`) with "
                      "mqtt.host and mqtt.tls.ca")
    except OSError as exc:
        return failed(NAME, f"cannot reach {where}: {exc}",
                      "check mqtt.host and mqtt.port, that the broker runs (`systemctl status mosquitto`) "
                      "and that no firewall blocks the port")
    if reason is None:
        return failed(NAME, f"{where} accepted the TCP connection but did not answer CONNECT within "
                      f"{TIMEOUT_S:g} s", "check that mqtt.port is the broker's MQTT port (TLS or not)")
    label = "5" if version == MQTTProtocolVersion.MQTTv5 else "3.1.1"
    if not reason.is_failure:
        user = f" as {credentials['username']}" if credentials["username"] else " anonymously"
        return passed(NAME, f"{where} accepted the connection{user} (MQTT {label})")
    if str(reason) in _CREDENTIAL_REASONS:
        return failed(NAME, f"{where} refused the credentials: {reason}",
                      f"check the user and password in {mqtt.username_env} / {mqtt.password_env} against "
                      "the broker's password file (`mosquitto_passwd`) and its ACL")
    return failed(NAME, f"{where} refused the connection (MQTT {label}): {reason}",
                  "see the broker's log for why it refused this client")


def _connect(mqtt: MqttSection, version: MQTTProtocolVersion, username: str | None,
             password: str | None) -> ReasonCode | None:
    """The broker's CONNACK reason code, or None if none came within TIMEOUT_S."""
    answered = threading.Event()
    outcome: list[ReasonCode] = []

    def on_connect(_c: paho.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        outcome.append(reason)
        answered.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"moldpilot-doctor-{os.getpid()}",
                         protocol=version)
    if username is not None:
        client.username_pw_set(username, password)
    if mqtt.tls is not None:
        client.tls_set(ca_certs=mqtt.tls.ca, certfile=mqtt.tls.cert, keyfile=mqtt.tls.key)
    client.on_connect = on_connect
    client.connect(mqtt.host, mqtt.port, keepalive=mqtt.keepalive_s)  # raises when unreachable
    client.loop_start()
    try:
        answered.wait(TIMEOUT_S)
    finally:
        client.disconnect()
        client.loop_stop()
    return outcome[0] if outcome else None
