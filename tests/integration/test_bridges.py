"""BLE-to-MQTT bridges already in gyms (OpenMQTTGateway, Theengs Gateway) feed
fitgate-edge through the gateway's broker: their JSON becomes readings, and bad
JSON is counted without costing its neighbours."""
import json
import time

import paho.mqtt.client as mqtt


def publish_all(port, msgs):
    c = mqtt.Client(client_id="esp32-bridge", protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    for topic, payload in msgs:
        c.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    c.loop_stop()
    c.disconnect()


def test_theengs_and_openmqttgateway_json_become_readings(stack):
    scale = "home/TheengsGateway/BTtoMQTT/C4A5DFE0A1B2"
    band = "home/OMG_ESP32_BLE/BTtoMQTT/D1E2F3A4B5C6"
    publish_all(stack.local_port, [
        (scale, json.dumps({"id": "C4:A5:DF:E0:A1:B2", "name": "MIBFS", "rssi": -70,
                            "brand": "Xiaomi", "model": "Mi body composition scale v2",
                            "model_id": "XMTZC02HM/XMTZC05HM", "type": "SCALE",
                            "weighing_mode": "person", "unit": "kg", "weight": 73.2,
                            "impedance": 503})),
        (scale, b"{not json"),                                  # counted, skipped
        (scale, json.dumps({"unit": "kg", "weight": -3})),      # out of range
        (band, json.dumps({"id": "D1:E2:F3:A4:B5:C6", "brand": "Xiaomi/Amazfit",
                           "model": "Mi Band/Smart Watch", "model_id": "MB/SW",
                           "steps": 1234, "act_bpm": 72})),
    ])
    deadline = time.time() + 30
    rows = []
    while time.time() < deadline:
        with stack.db() as c:
            rows = c.execute("SELECT device, kind, body FROM readings ORDER BY seq").fetchall()
        if len(rows) >= 3:
            break
        time.sleep(0.2)
    time.sleep(1)
    with stack.db() as c:
        rows = c.execute("SELECT device, body FROM readings ORDER BY seq").fetchall()
    bodies = [(dev, json.loads(body)) for dev, body in rows]
    assert len(bodies) == 3, bodies
    (d0, scale_r), (d1, hr_r), (d2, steps_r) = bodies
    assert d0 == "C4:A5:DF:E0:A1:B2" and scale_r["kind"] == "body_composition"
    assert scale_r["v"] == {"weight": 73.2, "impedance": 503}
    assert d1 == d2 == "D1:E2:F3:A4:B5:C6"
    assert {hr_r["kind"], steps_r["kind"]} == {"heart_rate", "activity"}
    by_kind = {r["kind"]: r for r in (hr_r, steps_r)}
    assert by_kind["heart_rate"]["v"] == {"hr": 72}
    assert by_kind["activity"]["v"] == {"steps": 1234}
    assert stack.procs["edge"].alive()
