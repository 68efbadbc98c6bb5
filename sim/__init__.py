"""Stand-ins for hardware: synthetic mold parts, footage, a virtual PLC and a local broker."""
