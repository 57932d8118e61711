"""``caffefill probe``: one forward and one backward pass of the initialised net,
measured layer by layer, and a verdict (vanishes / saturates / explodes / steady).

* :func:`measure` - the measurement (needs the ``caffefill[torch]`` extra);
* :func:`judge` - the verdict on measured layers (:mod:`.verdict` defines it);
* :mod:`.report` - text and JSON; :mod:`.plot` - the figure (``caffefill[plot]``).
"""

from __future__ import annotations

from .measure import DEFAULT_THRESHOLD, LayerProbe, ProbeResult, load_data, measure
from .verdict import Verdict, judge

__all__ = ["DEFAULT_THRESHOLD", "LayerProbe", "ProbeResult", "Verdict", "judge", "load_data",
           "measure"]
