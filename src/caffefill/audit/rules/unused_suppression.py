"""CF210: a suppression comment that silences nothing."""

from __future__ import annotations

from collections.abc import Iterator, Set

from ..context import AuditContext, Place
from ..finding import Finding
from ..rule import Rule
from ..suppress import Directive


class UnusedSuppression(Rule):
    """A `# caffefill: ignore[...]` code that matched no finding.

    ## What it does
    After the other rules ran, reports each code (or prefix) of an inline or
    file-level suppression comment that silenced no finding, when every rule
    the code names ran on the file (a code of a rule that was not selected,
    or that was skipped for want of shapes, is not reported).

    ## Why is this bad?
    A suppression outlives the problem it was written for: once the filler is
    fixed or the layer moved, the comment stays, and later silences a new,
    real finding on that line without anyone noticing.

    ## Example
    ```prototxt
    layer { name: "conv1" type: "Convolution"  # caffefill: ignore[CF201]
      convolution_param { weight_filler { type: "msra" } } }
    ```

    ## Use instead
    ```prototxt
    layer { name: "conv1" type: "Convolution"
      convolution_param { weight_filler { type: "msra" } } }
    ```
    """

    code = "CF210"
    name = "unused-suppression"
    severity = "warning"
    tier = "source"

    def check(self, ctx: AuditContext) -> Iterator[Finding]:
        # Found by the engine, which knows what the other rules reported.
        return iter(())

    @classmethod
    def unused(cls, ctx: AuditContext, table: dict[int, frozenset[Directive]],
               used: Set[Directive], ran: Set[str]) -> Iterator[Finding]:
        """The findings for the directives of ``table`` that silenced nothing
        although every rule they name is in ``ran``."""
        from . import RULES

        rule = cls()
        for directive in sorted({d for found in table.values() for d in found},
                                key=lambda d: (d.line, d.code)):
            if directive in used or directive.code == cls.code:
                continue
            named = {r.code for r in RULES if r.code.startswith(directive.code)}
            if not named or not named <= ran:
                continue
            kind = "ignore-file" if directive.whole_file else "ignore"
            yield rule.finding(
                ctx, Place(directive.line, None),
                f"'# caffefill: {kind}[{directive.code}]' silences no finding",
                f"remove {directive.code} from the comment")
