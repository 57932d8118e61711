"""Generated protobuf modules (built from proto/caffefill.proto at install time)."""
