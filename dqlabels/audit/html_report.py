"""The audit as one self-contained HTML page (``dqlabels evaluate --html report.html``).

A file a data-quality team sends around: inline CSS, figures as inline PNG images, no script
and no request to the network; readable at 1280 px and on a phone (tables scroll sideways, the
figures shrink). Every text that comes from the data (item ids, class and annotator names, the
file name) is HTML-escaped: a class called ``<script>`` stays text.

Sections: headline numbers; class balance by hard, soft and worker-weighted label; agreement
(κ, α, ties, unanimity); item ambiguity (entropy and item quality); annotators ordered by the
report's ranking (Dawid–Skene accuracy by default) with their disagreements, those below chance
marked; the most ambiguous and lowest-quality items; with gold answers, the accuracy on gold of
every label; with predictions, their scores against the soft labels and a reliability diagram.

Everything on the page is drawn from one :class:`~dqlabels.audit.report.Audit`: its report and its
arrays, never recomputed from the annotations.

Examples:
    >>> from dqlabels import from_long
    >>> from dqlabels.audit.report import audit
    >>> ann = from_long(["a", "a", "b"], ["<script>", "dog", "dog"], ["u1", "u2", "u1"])
    >>> page = html_page(audit(ann))
    >>> "<script>" in page, "&lt;script&gt;" in page
    (False, True)
"""

from __future__ import annotations

from html import escape

import numpy as np

from dqlabels import figures
from dqlabels._io import write_text_atomic
from dqlabels.audit.report import Audit
from dqlabels.audit.sections import AuditReport
from dqlabels.audit.summary import reading_line
from dqlabels.labels.ranking import MIN_LISTED_ANNOTATIONS

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


def write_html_report(path, result: Audit, drawn: dict | None = None) -> None:
    """Write :func:`html_page` to ``path`` atomically."""
    write_text_atomic(path, html_page(result, drawn))


def html_page(result: Audit, drawn: dict | None = None) -> str:
    """The audit as one self-contained HTML document; its figures are ``drawn`` (from
    :func:`dqlabels.figures.draw_audit_figures`, shared with the PNG files) or drawn here."""
    report = result.report
    owned = drawn is None
    drawn = figures.draw_audit_figures(result) if owned else drawn
    parts = [_header(report), _balance(report, drawn["class_mass"]), _agreement(report),
             _ambiguity(drawn["entropy"]), _annotators(report, drawn.get("annotators")),
             _items(report)]
    if report.gold is not None:
        parts.append(_gold(report))
    if report.next_round is not None:
        parts.append(_next_round(report))
    if report.scores is not None:
        parts.append(_predictions(report))
    if owned:
        for fig in drawn.values():
            figures.pyplot().close(fig)
    body = "\n".join(p for p in parts if p)
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>Annotation audit: {escape(str(report.campaign.source))}</title>\n"
            f"<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n"
            f"<p class=\"note\">Made by dqlabels. Soft label = share of an item's annotations per "
            f"class; hard label = majority vote (ties to the first class).</p>\n"
            f"</main>\n</body>\n</html>\n")


# ----------------------------------------------------------------------------------------------
# Sections


def _header(report: AuditReport) -> str:
    c = report.campaign
    per = c.annotations_per_item
    cards = [("items", f"{c.num_items:,}"), ("classes", f"{c.num_classes}"),
             ("annotations", _count(c.num_annotations)),
             ("annotators", _count(c.num_annotators)),
             ("annotations per item", "–" if per is None else f"{per['mean']:.1f}"),
             ("Fleiss' κ", _num(c.fleiss_kappa, 3)),
             ("Krippendorff's α", _num(c.krippendorff_alpha, 3)),
             ("mean item quality", _num(report.quality.mean_item_quality, 3))]
    if report.scores is not None:
        cards += [("prediction KL", _num(report.scores["kl"], 4)),
                  ("macro accuracy", _num(report.scores["macro_accuracy"], 4))]
    notes = "".join(f"<p class=\"note\">Note: {escape(note)}.</p>\n" for note in c.notes)
    return (f"<h1>Annotation audit</h1>\n<p class=\"lead\">{escape(str(c.source))} "
            f"({escape(reading_line(c.format, c.reading))})</p>\n{notes}<div class=\"cards\">"
            + "".join(f"<div class=\"card\"><div class=\"v\">{escape(v)}</div>"
                      f"<div class=\"k\">{escape(k)}</div></div>" for k, v in cards)
            + "</div>")


def _balance(report: AuditReport, fig) -> str:
    mass = report.campaign.class_mass
    kinds = [k for k in ("hard", "soft", "weighted") if k in mass]
    rows = [[escape(c)] + [_num(mass[k][c], 3) for k in kinds] for c in report.campaign.classes]
    figure = _figure(fig, "Share of items per class: hard (majority vote), soft (annotation shares)"
                     + (", weighted (annotations weighted by annotator quality)"
                        if "weighted" in kinds else ""))
    return ("<h2>Class balance</h2>\n<div class=\"grid2\">"
            + _table(["class"] + kinds, rows, numeric=range(1, len(kinds) + 1))
            + figure + "</div>")


def _agreement(report: AuditReport) -> str:
    c = report.campaign
    n = c.num_items
    rows = [["ties in the majority vote", f"{c.num_ties:,} ({c.num_ties / n:.1%})"],
            ["unanimous items", "not measurable" if c.num_unanimous is None
             else f"{c.num_unanimous:,} ({c.num_unanimous / n:.1%})"],
            ["mean top-class probability", _num(c.mean_top_probability, 3)],
            ["mean entropy (nats)", _num(c.mean_entropy, 3)],
            ["Fleiss' κ", _num(c.fleiss_kappa, 4)],
            ["Krippendorff's α", _num(c.krippendorff_alpha, 4)]]
    if report.annotators is not None:
        rows.append(["annotator agreement (leave-one-out majority)",
                     _num(report.annotators.mean_agreement, 4)])
    if report.dawid_skene is not None:
        rows.append(["Dawid–Skene differs from the majority vote",
                     f"{report.dawid_skene.num_disagree_with_majority:,} items"])
    crowd = report.quality.crowdtruth
    note = (f"CrowdTruth 2.0 metrics: {crowd.rounds} rounds."
            if crowd.available else f"No CrowdTruth annotator quality: {crowd.reason}.")
    if report.agreement_note is not None:
        note = f"{report.agreement_note[:1].upper()}{report.agreement_note[1:]}. {note}"
    return ("<h2>Agreement</h2>\n" + _table(["measure", "value"], rows, numeric=[1])
            + f"<p class=\"note\">{escape(note)}</p>")


def _ambiguity(fig) -> str:
    return ("<h2>Item ambiguity</h2>\n"
            + _figure(fig, "Per item: entropy of the soft label (0 = unanimous) and "
                           "quality (1 = every pair of annotators agrees)"))


def _annotators(report: AuditReport, fig) -> str:
    table = report.annotators
    if table is None:
        return ("<h2>Annotators</h2>\n<p class=\"note\">Annotator ids are unknown in this input: "
                "no per-annotator scores.</p>")
    key, ordered = table.ranked_by, table.ranked
    columns = [(name, label) for name, label in (
        ("ds_accuracy", "Dawid–Skene accuracy"), ("quality", "CrowdTruth quality"),
        ("annotator_agreement", "agreement with annotators"),
        ("item_agreement", "agreement with items"),
        ("agreement", "leave-one-out agreement"), ("gold_accuracy", "accuracy on gold"))
        if name == "agreement" or name in table.computed]
    headers = ["annotator", "annotations"] + [label for _, label in columns]
    ranked = [e for e in ordered if not e.few_answers]
    few = [e for e in ordered if e.few_answers]
    values = [e.score(key) for e in ranked if e.score(key) is not None]
    cut = float(np.quantile(values, 0.1)) if values else None

    def row_of(e, marked: bool) -> list[str]:
        row = [escape(e.annotator), f"{e.num_annotations:,}"]
        for name, _ in columns:
            text = _num(e.score(name), 3)
            if name == "gold_accuracy" and e.gold_interval:
                low, high = e.gold_interval
                text += f" [{low:.2f}, {high:.2f}] n={e.gold_answers}"
            low_score = marked and name == key and e.score(key) is not None and \
                cut is not None and e.score(key) <= cut
            if low_score or (name == "ds_accuracy" and e.below_chance):
                text = f"<span class=\"low\">{text}</span>"
            if name == "ds_accuracy" and e.below_chance:
                text += " <span class=\"low\">below chance</span>"
            row.append(text)
        return row

    rows = [row_of(e, True) for e in ranked]
    apart = "" if not few else (
        f"<h3>Too few answers to rank ({len(few):,})</h3>\n<p class=\"note\">Annotators with "
        f"fewer than {MIN_LISTED_ANNOTATIONS} annotations are not ranked and not marked: "
        f"their scores rest on too little to judge.</p>\n"
        + _table(headers, [row_of(e, False) for e in few], numeric=range(1, len(headers)),
                 id_column=0))
    disagreements = report.disagreements
    detail = []
    for entry in disagreements.annotators:
        examples = "; ".join(f"{escape(x.item)}: {escape(x.label)} "
                             f"(consensus {escape(x.consensus)})" for x in entry.examples)
        detail.append([escape(entry.annotator), f"{entry.num_disagreements:,}",
                       examples or "–"])
    below = table.below_chance
    warning = ("" if not below else
               f"<p class=\"low\">Below chance (1/{report.campaign.num_classes}) by Dawid–Skene, "
               f"beyond its 95% interval: {escape(', '.join(below))}. Their answers look flipped "
               f"or systematically moved to another class.</p>\n")
    return ("<h2>Annotators</h2>\n<p class=\"note\">Ordered by "
            + escape(table.ranking_definition)
            + f", least reliable first; the lowest tenth in red. Only annotators with at least "
              f"{MIN_LISTED_ANNOTATIONS} annotations are ranked; the others are listed apart "
              f"below.</p>\n" + warning
            + "<div class=\"grid2\">" + _figure(fig, "Distribution over annotators")
            + "</div>\n" + _table(headers, rows, numeric=range(1, len(headers)), id_column=0)
            + apart
            + "<h3>Disagreements of the least reliable annotators</h3>\n"
            + f"<p class=\"note\">Items where the annotator's label differs from the "
              f"{escape(disagreements.consensus)}.</p>\n"
            + _table(["annotator", "disagreements", "examples (item: label)"], detail,
                     numeric=[1], id_column=0))


def _gold(report: AuditReport) -> str:
    gold = report.gold
    names = {"majority_vote": "majority vote", "crowdtruth_weighted": "CrowdTruth-weighted label",
             "dawid_skene": "Dawid–Skene label (held out)"}
    rows = [[names[key], _num(entry["accuracy"], 3),
             f"[{entry['interval'][0]:.3f}, {entry['interval'][1]:.3f}]",
             f"{entry['num_items']:,}"] for key, entry in gold["aggregates"].items()]
    return (f"<h2>Gold answers ({gold['num_items']:,} items)</h2>\n"
            + _table(["label", "accuracy on gold", "95% interval", "items"], rows,
                     numeric=[1, 2, 3])
            + "<p class=\"note\">Gold answers never vote. Dawid–Skene fixes the gold items to "
              "their answers; its accuracy here comes from fits that did not see the answer of "
              "the item scored (5-fold), so that it cannot flatter itself.</p>")


def _items(report: AuditReport) -> str:
    ambiguous = [[escape(e.item), _num(e.entropy, 3),
                  ", ".join(f"{escape(c)} {v:.2f}" for c, v in
                            sorted(e.soft.items(), key=lambda kv: -kv[1]) if v > 0)]
                 for e in report.campaign.most_ambiguous]
    out = ("<h2>Items</h2>\n<h3>Most ambiguous (highest entropy)</h3>\n"
           + _table(["item", "entropy", "soft label"], ambiguous, numeric=[1], id_column=0))
    lowest = report.quality.lowest_item_quality
    if lowest:
        rows = [[escape(e.item), _num(e.quality, 3),
                 ", ".join(f"{escape(c)} {v}" for c, v in
                           sorted((e.annotations or {}).items(), key=lambda kv: -kv[1]))]
                for e in lowest]
        out += ("<h3>Lowest item quality</h3>\n"
                + _table(["item", "quality", "annotations"], rows, numeric=[1], id_column=0))
    return out


def _next_round(report: AuditReport) -> str:
    plan, post = report.next_round, report.posterior
    expected = plan["expected"]
    measure = "mean expected KL" if plan["objective"] == "soft" else "chance not the majority"
    sizes = plan.get("items_by_annotations", {})
    budget = [[escape(n), f"{int(sizes.get(n, 0)):,}", _num(post["spread_by_annotations"][n], 3),
               _num(v, 3)] for n, v in plan["loss_by_annotations"].items()]
    rows = [[escape(e["item"]), f"+{e['annotations']}", _num(e["expected_gain"], 4),
             escape(e["reason"])] for e in plan["next_round"][:50]]
    more = len(plan["next_round"]) - len(rows)
    buys = (f"mean KL {expected['mean_kl_now']:.4f} → {expected['mean_kl_after']:.4f} nats "
            f"(the same budget spread evenly: → {expected['mean_kl_after_even']:.4f})"
            if plan["objective"] == "soft" else
            f"agreement with the annotators' long-run majority (not accuracy on gold) "
            f"{expected['majority_agreement_now']:.4f} → "
            f"{expected['majority_agreement_after']:.4f} (the same budget spread evenly: → "
            f"{expected['majority_agreement_after_even']:.4f})")
    gold = plan["num_gold"]
    return (f"<h2>Next round ({escape(plan['objective'])} objective, budget "
            f"{plan['budget']:,})</h2>\n<p class=\"note\">{plan['num_uncertain']:,} items are "
            f"still uncertain, {plan['num_certain']:,} certain"
            + (f", {gold:,} have gold answers and get none" if gold else "")
            + f". Each item's label distribution "
            f"has a Dirichlet posterior (prior: {escape(post['prior'])}, strength "
            f"{post['strength']:.2f}); its posterior spread is how far the soft label may still "
            f"be from the truth. The round asks for "
            f"{plan['budget'] - plan['unspent']:,} annotations and is expected to bring the "
            f"{buys}, the posterior spread {expected['mean_posterior_spread_now']:.3f} → "
            f"{expected['mean_posterior_spread_after']:.3f}."
            + ("" if not plan["unspent"] else
                f" {plan['unspent']:,} annotations are left unspent: the uncertain items already "
                f"get the most one round gives an item ({plan['max_per_item']})."
                if plan["unspent_reason"] == "max_per_item" else
                f" {plan['unspent']:,} annotations are left unspent: every other item is "
                f"certain{' or has a gold answer' if gold else ''}.")
            + "</p>\n<div class=\"grid2\">"
            + _table(["annotations per item so far", "items", "mean posterior spread", measure],
                     budget, numeric=[0, 1, 2, 3])
            + _table(["item", "ask for", "expected gain", "why"], rows, numeric=[1, 2],
                     id_column=0) + "</div>"
            + (f"<p class=\"note\">… and {more:,} more items (the CSV lists them all).</p>"
               if more > 0 else ""))


def _predictions(report: AuditReport) -> str:
    s = report.scores
    rows = [[name, _num(s[key], 4)] for name, key in (
        ("KL(soft ‖ prediction)", "kl"), ("macro accuracy", "macro_accuracy"),
        ("accuracy", "accuracy"), ("macro F1", "macro_f1"), (f"ECE ({s['ece_bins']} bins)", "ece"),
        ("Jensen–Shannon", "js"), ("total variation", "total_variation"), ("Brier", "brier"),
        ("cross-entropy", "cross_entropy"))]
    fig = figures.reliability_diagram(s["reliability"])
    return (f"<h2>Predictions ({report.num_scored_items:,} items)</h2>\n<div class=\"grid2\">"
            + _table(["score vs the soft labels", "value"], rows, numeric=[1])
            + _figure(fig, "Reliability diagram: accuracy per confidence bin") + "</div>")


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


def _figure(fig, caption: str) -> str:
    return (f"<figure><img src=\"{figures.png_data_uri(fig)}\" alt=\"{escape(caption)}\">"
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _num(value, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _count(value) -> str:
    return "–" if value is None else f"{value:,}"
