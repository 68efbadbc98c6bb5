"""A virtual PLC: drives the runtime from a footage timeline over Modbus RTU or the ASCII link, the way
a press controller would, and records what came back for each shot."""

from sim.virtual_plc.record import ShotPlan, ShotRecord, plan_from_timeline

__all__ = ["ShotPlan", "ShotRecord", "plan_from_timeline"]
