"""The audit as one self-contained HTML page (``dqlabels evaluate --html report.html``).

A file a data-quality team sends around: inline CSS, figures as inline PNG images, no script
and no request to the network; readable at 1280 px and on a phone (tables scroll sideways, the
figures shrink). Every text that comes from the data (item ids, class and annotator names, the
file name) is HTML-escaped: a class called ``<script>`` stays text.

Sections: headline numbers; class balance by hard, soft and worker-weighted label; agreement
(κ, α, ties, unanimity); item ambiguity (entropy and item quality); annotators ordered by
quality with their disagreements; the most ambiguous and lowest-quality items; with
predictions, their scores against the soft labels and a reliability diagram.

Example:
    >>> from dqlabels import from_long
    >>> from dqlabels.audit import audit_report
    >>> ann = from_long(["a", "a", "b"], ["<script>", "dog", "dog"], ["u1", "u2", "u1"])
    >>> page = html_page(audit_report(ann), ann)
    >>> "<script>" in page, "&lt;script&gt;" in page
    (False, True)
"""

from __future__ import annotations

import base64
import io
from html import escape

import numpy as np

from dqlabels._io import write_text_atomic
from dqlabels.aggregation import soft_labels
from dqlabels.scores import item_entropy

CSS = """
:root { --ink: #1d2430; --muted: #5b6575; --line: #dde2ea; --card: #f6f8fb; --accent: #2f6fb2;
        --bad: #b2452f; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.6em; margin: 0 0 4px; } h2 { font-size: 1.2em; margin: 32px 0 10px;
     padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 1em; margin: 18px 0 6px; }
p.lead { color: var(--muted); margin: 0 0 18px; overflow-wrap: anywhere; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
        padding: 10px 12px; }
.card .v { font-size: 1.45em; font-weight: 600; } .card .k { color: var(--muted); font-size: .85em; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 18px; }
figure { margin: 0; max-width: 760px; } figure img { width: 100%; height: auto;
        border: 1px solid var(--line);
        border-radius: 6px; } figcaption { color: var(--muted); font-size: .85em; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; width: 100%; font-size: .92em; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
         vertical-align: top; } th { background: var(--card); white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.id { overflow-wrap: anywhere; max-width: 28em; }
.low { color: var(--bad); font-weight: 600; }
.note { color: var(--muted); font-size: .88em; }
@media (max-width: 600px) { main { padding: 14px 10px 32px; } body { font-size: 14px; }
  .card .v { font-size: 1.2em; } }
"""


def write_html_report(path, report: dict, annotations, crowdtruth=None) -> None:
    """Write :func:`html_page` to ``path`` atomically."""
    write_text_atomic(path, html_page(report, annotations, crowdtruth=crowdtruth))


def html_page(report: dict, annotations, crowdtruth=None) -> str:
    """The audit report as one self-contained HTML document."""
    parts = [_header(report), _balance(report), _agreement(report),
             _ambiguity(report, annotations, crowdtruth), _annotators(report), _items(report)]
    if "scores" in report:
        parts.append(_predictions(report))
    body = "\n".join(p for p in parts if p)
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>Annotation audit: {escape(str(report['source']))}</title>\n"
            f"<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n"
            f"<p class=\"note\">Made by dqlabels. Soft label = share of an item's annotations per "
            f"class; hard label = majority vote (ties to the first class).</p>\n"
            f"</main>\n</body>\n</html>\n")


# ----------------------------------------------------------------------------------------------
# Sections


def _header(report: dict) -> str:
    per = report["annotations_per_item"]
    cards = [("items", f"{report['num_items']:,}"), ("classes", f"{report['num_classes']}"),
             ("annotations", _count(report["num_annotations"])),
             ("annotators", _count(report["num_annotators"])),
             ("annotations per item", "–" if per is None else f"{per['mean']:.1f}"),
             ("Fleiss' κ", _num(report["fleiss_kappa"], 3)),
             ("Krippendorff's α", _num(report["krippendorff_alpha"], 3)),
             ("mean item quality", _num(report.get("mean_item_quality"), 3))]
    if "scores" in report:
        cards += [("prediction KL", _num(report["scores"]["kl"], 4)),
                  ("macro accuracy", _num(report["scores"]["macro_accuracy"], 4))]
    return (f"<h1>Annotation audit</h1>\n<p class=\"lead\">{escape(str(report['source']))} "
            f"({escape(str(report['format']))} format)</p>\n<div class=\"cards\">"
            + "".join(f"<div class=\"card\"><div class=\"v\">{escape(v)}</div>"
                      f"<div class=\"k\">{escape(k)}</div></div>" for k, v in cards)
            + "</div>")


def _balance(report: dict) -> str:
    mass = report["class_mass"]
    kinds = [k for k in ("hard", "soft", "weighted") if k in mass]
    rows = [[escape(c)] + [_num(mass[k][c], 3) for k in kinds] for c in report["classes"]]
    figure = _figure(_bars(report["classes"], {k: [mass[k][c] for c in report["classes"]]
                                               for k in kinds}),
                     "Share of items per class: hard (majority vote), soft (annotation shares)"
                     + (", weighted (annotations weighted by annotator quality)"
                        if "weighted" in kinds else ""))
    return ("<h2>Class balance</h2>\n<div class=\"grid2\">"
            + _table(["class"] + kinds, rows, numeric=range(1, len(kinds) + 1))
            + figure + "</div>")


def _agreement(report: dict) -> str:
    n = report["num_items"]
    rows = [["ties in the majority vote", f"{report['num_ties']:,} ({report['num_ties'] / n:.1%})"],
            ["unanimous items", f"{report['num_unanimous']:,} ({report['num_unanimous'] / n:.1%})"],
            ["mean top-class probability", _num(report["mean_top_probability"], 3)],
            ["mean entropy (nats)", _num(report["mean_entropy"], 3)],
            ["Fleiss' κ", _num(report["fleiss_kappa"], 4)],
            ["Krippendorff's α", _num(report["krippendorff_alpha"], 4)]]
    if "annotators" in report:
        rows.append(["annotator agreement (leave-one-out majority)",
                     _num(report["annotators"]["mean_agreement"], 4)])
    if "dawid_skene" in report:
        ds = report["dawid_skene"]
        rows.append(["Dawid–Skene differs from the majority vote",
                     f"{ds['num_disagree_with_majority']:,} items"])
    crowd = report["crowdtruth"]
    note = (f"CrowdTruth 2.0 metrics: {crowd['rounds']} rounds."
            if crowd["available"] else f"No CrowdTruth annotator quality: {crowd['reason']}.")
    return ("<h2>Agreement</h2>\n" + _table(["measure", "value"], rows, numeric=[1])
            + f"<p class=\"note\">{escape(note)}</p>")


def _ambiguity(report: dict, annotations, crowdtruth) -> str:
    soft = soft_labels(annotations.counts)
    entropy = item_entropy(soft)
    quality = None
    if crowdtruth is not None:
        quality = crowdtruth.item_quality_
    elif report.get("mean_item_quality") is not None:
        from dqlabels.crowdtruth import item_agreement

        quality = item_agreement(annotations.counts)
    plt = _pyplot()
    panels = 2 if quality is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.0), squeeze=False)
    axes[0, 0].hist(entropy, bins=30, color="#2f6fb2")
    axes[0, 0].set_xlabel("entropy of the soft label (nats)")
    axes[0, 0].set_ylabel("items")
    if quality is not None:
        axes[0, 1].hist(quality[np.isfinite(quality)], bins=30, range=(0, 1), color="#55a868")
        axes[0, 1].set_xlabel("item quality")
    fig.tight_layout()
    return ("<h2>Item ambiguity</h2>\n"
            + _figure(_png(fig), "Per item: entropy of the soft label (0 = unanimous) and "
                                 "quality (1 = every pair of annotators agrees)"))


def _annotators(report: dict) -> str:
    if "annotators" not in report:
        return ("<h2>Annotators</h2>\n<p class=\"note\">Annotator ids are unknown in this input: "
                "no per-annotator scores.</p>")
    entries = report["annotators"]["per_annotator"]
    has_quality = any("quality" in e for e in entries)
    key = "quality" if has_quality else "agreement"
    ordered = sorted(entries, key=lambda e: (e[key] is None, e[key] if e[key] is not None else 0,
                                             e["annotator"]))
    headers = ["annotator", "annotations", "leave-one-out agreement"]
    if has_quality:
        headers += ["quality", "agreement with annotators", "agreement with items"]
    if any("ds_accuracy" in e for e in entries):
        headers.append("Dawid–Skene accuracy")
    values = [e[key] for e in ordered if e[key] is not None]
    cut = float(np.quantile(values, 0.1)) if values else None
    rows = []
    for e in ordered:
        row = [escape(e["annotator"]), f"{e['num_annotations']:,}", _num(e["agreement"], 3)]
        if has_quality:
            flag = e["quality"] is not None and cut is not None and e["quality"] <= cut
            quality = _num(e["quality"], 3)
            row += [f"<span class=\"low\">{quality}</span>" if flag else quality,
                    _num(e.get("annotator_agreement"), 3), _num(e.get("item_agreement"), 3)]
        if "Dawid–Skene accuracy" in headers:
            row.append(_num(e.get("ds_accuracy"), 3))
        rows.append(row)
    disagreements = report.get("annotator_disagreements", {})
    detail = []
    for entry in disagreements.get("annotators", []):
        examples = "; ".join(f"{escape(x['item'])}: {escape(x['label'])} "
                             f"(consensus {escape(x['consensus'])})" for x in entry["examples"])
        detail.append([escape(entry["annotator"]), f"{entry['num_disagreements']:,}",
                       examples or "–"])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.0))
    ax.hist(values, bins=min(30, max(5, len(values) // 2)), color="#8172b2")
    ax.set_xlabel("annotator " + ("quality" if has_quality else "agreement"))
    ax.set_ylabel("annotators")
    fig.tight_layout()
    return ("<h2>Annotators</h2>\n<p class=\"note\">Ordered by "
            + ("CrowdTruth quality (agreement with the other annotators of the same items × "
               "agreement with the rest of each item's annotations), least reliable first; the "
               "lowest tenth in red." if has_quality else
               "agreement with the leave-one-out majority, lowest first.") + "</p>\n"
            + "<div class=\"grid2\">" + _figure(_png(fig), "Distribution over annotators")
            + "</div>\n" + _table(headers, rows, numeric=range(1, len(headers)), id_column=0)
            + "<h3>Disagreements of the least reliable annotators</h3>\n"
            + f"<p class=\"note\">Items where the annotator's label differs from the "
              f"{escape(disagreements.get('consensus', 'consensus'))}.</p>\n"
            + _table(["annotator", "disagreements", "examples (item: label)"], detail,
                     numeric=[1], id_column=0))


def _items(report: dict) -> str:
    ambiguous = [[escape(e["item"]), _num(e["entropy"], 3),
                  ", ".join(f"{escape(c)} {v:.2f}" for c, v in
                            sorted(e["soft"].items(), key=lambda kv: -kv[1]) if v > 0)]
                 for e in report["most_ambiguous"]]
    out = ("<h2>Items</h2>\n<h3>Most ambiguous (highest entropy)</h3>\n"
           + _table(["item", "entropy", "soft label"], ambiguous, numeric=[1], id_column=0))
    lowest = report.get("lowest_item_quality") or []
    if lowest:
        rows = [[escape(e["item"]), _num(e["quality"], 3),
                 ", ".join(f"{escape(c)} {v}" for c, v in
                           sorted((e["annotations"] or {}).items(), key=lambda kv: -kv[1]))]
                for e in lowest]
        out += ("<h3>Lowest item quality</h3>\n"
                + _table(["item", "quality", "annotations"], rows, numeric=[1], id_column=0))
    return out


def _predictions(report: dict) -> str:
    s = report["scores"]
    rows = [[name, _num(s[key], 4)] for name, key in (
        ("KL(soft ‖ prediction)", "kl"), ("macro accuracy", "macro_accuracy"),
        ("accuracy", "accuracy"), ("macro F1", "macro_f1"), (f"ECE ({s['ece_bins']} bins)", "ece"),
        ("Jensen–Shannon", "js"), ("total variation", "total_variation"), ("Brier", "brier"),
        ("cross-entropy", "cross_entropy"))]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    bins = [b for b in s["reliability"] if b["count"]]
    ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--")
    ax.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["accuracy"] for b in bins],
           width=1 / len(s["reliability"]) * 0.9, color="#2f6fb2", alpha=0.8, label="accuracy")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="#b2452f",
            ms=4, label="mean confidence")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("top-class confidence")
    ax.set_ylabel("accuracy vs argmax of the soft label")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return (f"<h2>Predictions ({report['num_scored_items']:,} items)</h2>\n<div class=\"grid2\">"
            + _table(["score vs the soft labels", "value"], rows, numeric=[1])
            + _figure(_png(fig), "Reliability diagram: accuracy per confidence bin") + "</div>")


# ----------------------------------------------------------------------------------------------
# Pieces


def _table(headers, rows, numeric=(), id_column=None) -> str:
    numeric = set(numeric)
    head = "".join(f"<th class=\"n\">{escape(h)}</th>" if i in numeric else f"<th>{escape(h)}</th>"
                   for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(
            f"<td class=\"n\">{cell}</td>" if i in numeric else
            f"<td class=\"id\">{cell}</td>" if i == id_column else f"<td>{cell}</td>"
            for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<div class=\"scroll\"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _figure(data_uri: str, caption: str) -> str:
    return (f"<figure><img src=\"{data_uri}\" alt=\"{escape(caption)}\">"
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _bars(classes, series: dict) -> str:
    plt = _pyplot()
    x = np.arange(len(classes))
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.55 * len(classes) + 2.5), 3.2))
    for k, (name, values) in enumerate(series.items()):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, [str(c) for c in classes], rotation=45 if len(classes) > 5 else 0,
                  ha="right" if len(classes) > 5 else "center")
    ax.set_ylabel("share of items")
    ax.legend(fontsize=8, ncols=len(series), loc="lower center", bbox_to_anchor=(0.5, 1.0),
              frameon=False)
    fig.tight_layout()
    return _png(fig)


def _png(fig) -> str:
    """A figure as a PNG data URI (matplotlib draws labels as pixels: no markup to escape)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    _pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _num(value, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _count(value) -> str:
    return "–" if value is None else f"{value:,}"
