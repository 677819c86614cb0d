"""ONNX -> IR, and the simplifying passes that run right after."""
