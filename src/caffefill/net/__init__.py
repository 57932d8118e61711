"""The net model: read -> upgrade -> filter -> set every layer up (registry)."""
