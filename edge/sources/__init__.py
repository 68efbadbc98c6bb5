"""Where frames come from: cameras, streams, files, image folders and the simulator."""
