"""The net model: read -> upgrade -> filter -> set every layer up (registry)."""

#: The phase every command and API call builds unless told otherwise: only the
#: TRAIN net's initial weights are ever trained (data layers draw differently
#: in TRAIN and TEST, so the two nets' weights differ).  Here, not in
#: :mod:`caffefill.net.load`, so that the command line's help can name it
#: without loading the net model.
DEFAULT_PHASE = "TRAIN"
