"""Links to the line: Modbus register server, framed ASCII serial link, MQTT publisher."""
