"""A self-contained HTML report: the comparison table and two charts embedded as PNG."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from tunesmith.report.compare import RunRow, comparison_markdown


def write_report(rows: list[RunRow], out_dir: Path, *, title: str = "Method comparison") -> dict:
    """Write comparison.md, comparison.json and report.html into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = comparison_markdown(rows)
    (out_dir / "comparison.md").write_text(f"# {title}\n\n{markdown}", encoding="utf-8")
    data = [row.to_dict() for row in rows]
    (out_dir / "comparison.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    page = _page(rows, title)
    (out_dir / "report.html").write_text(page, encoding="utf-8")
    return {
        name: str(out_dir / name) for name in ("comparison.md", "comparison.json", "report.html")
    }


def _page(rows: list[RunRow], title: str) -> str:
    headers = ["run", "method", "trainable", "peak memory (MB)", "train time (s)", "tokens/s",
               "stored (MB)", "domain", "domain gain", "general", "forgetting", "stop rate",
               "verdict"]  # fmt: skip
    body = "".join(
        f"<tr>{''.join(f'<td>{html.escape(c)}</td>' for c in _cells(r))}</tr>" for r in rows
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    charts = "".join(
        f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{png}"></figure>'
        for alt, png in (
            ("loss curves", _loss_chart(rows)),
            ("gain vs forgetting", _gain_chart(rows)),
        )
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}
table{{border-collapse:collapse;font-size:.9rem}}td,th{{border:1px solid #ccc;padding:.3rem .5rem}}
th{{background:#f3f3f3}}figure{{display:inline-block;margin:1rem}}img{{max-width:560px}}</style>
</head><body><h1>{html.escape(title)}</h1>
<p>Domain = key-fact recall on held-out questions; general = mean accuracy on the general
benchmarks; gain and forgetting are against the base model, in percentage points.</p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{charts}</body></html>
"""


def _cells(row: RunRow) -> list[str]:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v * 100:.1f}%"

    def pts(v: float | None) -> str:
        return "-" if v is None else f"{v * 100:+.1f}"

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:,.1f}"

    share = "" if row.trainable_share is None else f" ({row.trainable_share * 100:.2f}%)"
    trainable = "-" if row.trainable_parameters is None else f"{row.trainable_parameters:,}{share}"
    return [row.run, row.method, trainable, num(row.peak_memory_mb), num(row.wall_seconds),
            num(row.tokens_per_second), num(row.stored_mb), pct(row.domain_score),
            pts(row.domain_gain), pct(row.general_score), pts(row.forgetting),
            pct(row.stop_rate), row.verdict]  # fmt: skip


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(6, 4))


def _encode(plt, figure) -> str:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _loss_chart(rows: list[RunRow]) -> str:
    plt, figure, axis = _figure()
    for row in rows:
        if row.curve:
            axis.plot(*zip(*row.curve, strict=True), label=f"{row.run} train", linewidth=1)
        if row.val_curve:
            axis.plot(*zip(*row.val_curve, strict=True), marker="o", label=f"{row.run} val")
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("loss")
    axis.set_title("Loss curves")
    axis.grid(alpha=0.3)
    if any(row.curve for row in rows):
        axis.legend(fontsize=7)
    return _encode(plt, figure)


def _gain_chart(rows: list[RunRow]) -> str:
    plt, figure, axis = _figure()
    for row in rows:
        if row.domain_gain is not None and row.forgetting is not None:
            axis.scatter(row.forgetting * 100, row.domain_gain * 100, s=60)
            axis.annotate(f"{row.method}", (row.forgetting * 100, row.domain_gain * 100))
    axis.set_xlabel("forgetting (general points lost)")
    axis.set_ylabel("domain gain (key-fact recall points)")
    axis.set_title("Domain gain against forgetting")
    axis.axvline(0, color="#999", linewidth=0.8)
    axis.grid(alpha=0.3)
    return _encode(plt, figure)
