"""`moldpilot demo`: the whole kit on a simulated mold line (footage, virtual PLC, broker, runtime)."""
