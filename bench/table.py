"""The report's table: its rows and columns, how figures are written in them,
and the rows more than one section writes alike."""

from __future__ import annotations

from dataclasses import dataclass

from load import Load

LITELLM_RATIO_MIN = 100.0  # target: Dateline's requests/s over LiteLLM's, measured alongside


def fmt_rps(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def fmt_ms(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def check(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**pass**" if ok else "**MISS**")


@dataclass
class Row:
    measure: str
    figure: str = "–"
    p50: str = "–"
    p99: str = "–"
    vs_floor: str = "–"
    target: str = ""
    measured: str = ""
    result: str = ""

    def cells(self) -> list[str]:
        return [self.measure, self.figure, self.p50, self.p99, self.vs_floor, self.target, self.measured, self.result]


HEADER = ["measure", "figure", "p50", "p99", "× floor", "target", "measured", "result"]


def load_row(title: str, load: Load | None, floor: Load | None, failure: str | None) -> Row:
    """A throughput row: requests/s, latency, and the ratio to the floor measured in the same run."""
    row = Row(title)
    if load is None:
        row.figure = f"failed: {failure}" if failure else "not measured"
        return row
    row.figure = fmt_rps(load.rps) + (f" ({load.errors:,} errors)" if load.errors else "")
    row.p50, row.p99 = fmt_ms(load.p50_ms), fmt_ms(load.p99_ms)
    if floor is not None:
        row.vs_floor = f"{load.rps / floor.rps:.2f}×"
    return row


def litellm_row(title: str, litellm: Load | None, dateline: Load | None, floor: Load | None,
                failure: str | None) -> Row:
    """LiteLLM's throughput row, judged against Dateline's measured alongside it."""
    row = load_row(title, litellm, floor, failure)
    row.target = f"Dateline ≥ {LITELLM_RATIO_MIN:.0f}× LiteLLM"
    if litellm and dateline:
        ratio = dateline.rps / litellm.rps
        row.measured = f"Dateline {ratio:,.0f}× LiteLLM (Dateline {fmt_rps(dateline.rps)}/s alongside)"
        row.result = check(ratio >= LITELLM_RATIO_MIN)
    else:
        row.result = check(None)
    return row


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |" for cells in rows]
    return "\n".join(lines)


def markdown_table(rows: list[Row]) -> str:
    return markdown(HEADER, [row.cells() for row in rows])
