"""Model cards, the shipped ONNX models, and the training, export and quantisation code."""
