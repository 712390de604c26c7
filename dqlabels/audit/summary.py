"""The audit as readable text (:func:`format_summary`): what ``dqlabels evaluate`` prints,
drawn from the fields of an audit's report (:class:`~dqlabels.audit.sections.AuditReport`)
alone."""

from __future__ import annotations

from dqlabels.labels.plan_text import plan_lines
from dqlabels.labels.ranking import MIN_LISTED_ANNOTATIONS, RANKING_DEFINITIONS
from dqlabels.text import plural, share


def format_summary(result) -> str:
    """A readable text summary of an :class:`~dqlabels.audit.report.Audit` or of its
    :class:`~dqlabels.audit.sections.AuditReport`."""
    report = getattr(result, "report", result)
    lines = []
    for section in (_format_campaign, _format_class_balance, _format_agreement,
                    _format_quality, _format_items, _format_scores):
        section(report, lines.append)
    return "\n".join(lines)


def _format_campaign(report, add) -> None:
    """What was read: the file, its size, what was left out."""
    c = report.campaign
    per_item = c.annotations_per_item
    add(f"Annotations: {c.source} ({reading_line(c.format, c.reading)})")
    add(f"  items {c.num_items:,}   classes {c.num_classes}   "
        + (f"annotations {c.num_annotations:,}   " if c.num_annotations is not None
           else "soft labels given as probabilities   ")
        + (f"annotators {c.num_annotators:,}" if c.num_annotators is not None
           else "annotators unknown"))
    if per_item:
        add(f"  annotations per item: min {per_item['min']}, mean {per_item['mean']:.2f}, "
            f"max {per_item['max']}")
    if c.num_dropped or c.num_empty_items:
        add(f"  dropped {plural(c.num_dropped, 'annotation')} without a label; "
            f"excluded {plural(c.num_empty_items, 'item')} with no annotation")
    if c.skipped:
        add("  left out " + ", ".join(f"{n:,} {what}" for what, n in c.skipped.items())
            + " (as the tool marked them)")
    for note in c.notes:
        add(f"  note: {note}")


def reading_line(format: str, reading) -> str:
    """How the file was read, and what of it was guessed: ``long, guessed from the columns;
    separator ';', UTF-8 with BOM; item 'task', annotator 'worker', label 'answer'``."""
    parts = [format + (", guessed" if reading.get("guessed") else "")
             + (f", as {reading['settled_by']} says" if reading.get("settled_by") else "")]
    if reading.get("separator"):
        separator = {"\t": "tab"}.get(reading["separator"], repr(reading["separator"]))
        parts.append(f"separator {separator}, {reading.get('encoding', 'UTF-8')}")
    columns = [f"{role} {reading[role]!r}" for role in ("item", "annotator", "label")
               if reading.get(role)]
    if columns:
        parts.append(", ".join(columns))
    return "; ".join(parts)


def _format_class_balance(report, add) -> None:
    """The share of each class: hard, soft and CrowdTruth-weighted."""
    add("")
    mass = report.campaign.class_mass
    weighted = "weighted" in mass
    add("Class balance (share of items)     hard      soft" + ("  weighted" if weighted else ""))
    for c in report.campaign.classes:
        add(f"  {c[:30]:<30} {mass['hard'][c]:>8.3f}  {mass['soft'][c]:>8.3f}"
            + (f"  {mass['weighted'][c]:>8.3f}" if weighted else ""))


def _format_agreement(report, add) -> None:
    """Ties, unanimity, entropy, κ, α, annotator agreement, Dawid–Skene."""
    add("")
    c = report.campaign
    n = c.num_items
    add("Agreement")
    add(f"  ties in the majority vote   {c.num_ties:,} ({share(c.num_ties, n)})")
    if c.num_unanimous is None:
        add("  unanimous items             not measurable")
    else:
        add(f"  unanimous items             {c.num_unanimous:,} ({share(c.num_unanimous, n)})")
    add(f"  mean top-class probability  {c.mean_top_probability:.3f}")
    add(f"  mean entropy                {c.mean_entropy:.3f} nats "
        f"(median {c.entropy_quantiles['0.5']:.3f}, 90th pct "
        f"{c.entropy_quantiles['0.9']:.3f})")
    if report.agreement_note is not None:
        add(f"  ({report.agreement_note})")
    add(f"  Fleiss' kappa               {_fmt(c.fleiss_kappa)}")
    add(f"  Krippendorff's alpha        {_fmt(c.krippendorff_alpha)}")
    if report.annotators is not None:
        per = [a for a in report.annotators.per_annotator if a.agreement is not None]
        add(f"  annotator agreement (leave-one-out majority): mean "
            f"{_fmt(report.annotators.mean_agreement)}")
        enough = [a for a in per if not a.few_answers]
        if enough:
            worst = sorted(enough, key=lambda a: (a.agreement, a.annotator))[:3]
            add("  lowest: " + ", ".join(f"{a.annotator} {a.agreement:.3f} "
                                          f"(of {plural(a.num_annotations, 'annotation')})"
                                          for a in worst))
        if len(enough) < len(per):
            add(f"  ({plural(len(per) - len(enough), 'annotator')} with fewer than "
                f"{MIN_LISTED_ANNOTATIONS} annotations not ranked: too few to judge)")
    if report.dawid_skene is not None:
        ds = report.dawid_skene
        add(f"  Dawid–Skene: {plural(ds.iterations, 'iteration')}"
            f"{'' if ds.converged else ' (not converged)'}, differs from the majority vote on "
            f"{plural(ds.num_disagree_with_majority, 'item')}")
        if ds.note is not None:
            add(f"  ({ds.note})")


def _format_quality(report, add) -> None:
    """Item quality, the annotators, gold answers and the next round."""
    add("")
    q = report.quality
    crowd = q.crowdtruth
    if crowd.available:
        add(f"CrowdTruth quality ({crowd.rounds} rounds"
            f"{'' if crowd.converged else ', not converged'})")
        add(f"  mean item quality {_fmt(q.mean_item_quality)}; class quality: "
            + ", ".join(f"{c} {v:.3f}" for c, v in q.class_quality.items()))
    else:
        add(f"Item quality (unweighted pair agreement): mean {_fmt(q.mean_item_quality)}"
            f" — {crowd.reason}")
    if report.disagreements is not None:
        _format_annotators(report, add)
    if report.gold is not None:
        _format_gold(report.gold, add)
    if report.next_round is not None:
        _format_next_round(report, add)


def _format_items(report, add) -> None:
    """The most ambiguous items and those of lowest quality."""
    add("")
    add("Most ambiguous items (highest entropy)")
    listed = report.campaign.most_ambiguous
    for entry in listed[:5]:
        top = sorted(entry.soft.items(), key=lambda kv: -kv[1])[:3]
        add(f"  {entry.item[:30]:<30} H={entry.entropy:.3f}  "
            + "  ".join(f"{c} {v:.2f}" for c, v in top if v > 0))
    if len(listed) > 5 or report.campaign.num_more_ambiguous_tied:
        last = listed[min(5, len(listed)) - 1].entropy
        tied = sum(abs(e.entropy - last) <= 1e-12 for e in listed[5:])
        if abs(listed[-1].entropy - last) <= 1e-12:
            tied += report.campaign.num_more_ambiguous_tied
        if tied:
            add(f"  ({plural(tied, 'more item')} with the same entropy, {last:.3f}, not shown)")
    if report.quality.lowest_item_quality:
        add("Lowest item quality")
        for entry in report.quality.lowest_item_quality[:5]:
            votes = entry.annotations or {}
            add(f"  {entry.item[:30]:<30} {entry.quality:.3f}  "
                + "  ".join(f"{c} {v}" for c, v in sorted(votes.items(), key=lambda kv: -kv[1])))


def _format_scores(report, add) -> None:
    """The predictions against the soft labels, when scored."""
    if report.scores is not None:
        s = report.scores
        add("")
        n, scored = report.campaign.num_items, report.num_scored_items
        add(f"Predictions vs soft labels ({plural(scored, 'item')}"
            + ("" if scored == n else f" of {n:,}: the others have no prediction") + ")")
        add(f"  KL {s['kl']:.4f}   macro accuracy {s['macro_accuracy']:.4f}   accuracy "
            f"{s['accuracy']:.4f}   macro F1 {s['macro_f1']:.4f}")
        add(f"  ECE ({s['ece_bins']} bins) {s['ece']:.4f}   JS {s['js']:.4f}   TV "
            f"{s['total_variation']:.4f}   Brier {s['brier']:.4f}   cross-entropy "
            f"{s['cross_entropy']:.4f}")


def _format_annotators(report, add) -> None:
    table, worst = report.annotators, report.disagreements
    key = worst.ranked_by
    add("")
    add(f"Annotators, least reliable first (by {RANKING_DEFINITIONS[key].split(':')[0]})")
    if not worst.annotators:
        add(f"  no annotator has {worst.min_annotations} annotations or more: none is ranked "
            f"(too few to judge; the annotator table has everyone)")
    else:
        add(f"  least reliable annotators with at least "
            f"{plural(worst.min_annotations, 'annotation')} ({key}, annotations, "
            f"disagreements with the {worst.consensus}"
            + ("" if report.gold is None else ", accuracy on gold [95% interval] of n answers")
            + "):")
    by_name = {e.annotator: e for e in table.per_annotator}
    for entry in worst.annotators[:5]:
        who = by_name[entry.annotator]
        gold = who.gold_accuracy
        add(f"    {entry.annotator[:30]:<30} {entry.score:.3f}  {who.num_annotations:>6,}  "
            f"{entry.num_disagreements:>6,}"
            + ("" if gold is None else
               f"  gold {gold:.3f} [{who.gold_interval[0]:.2f}, "
               f"{who.gold_interval[1]:.2f}] of {who.gold_answers:,}"))
    if worst.num_left_out and worst.annotators:
        add(f"  ({plural(worst.num_left_out, 'annotator')} with fewer annotations not listed: "
            f"too little to rank on; the annotator table has everyone)")
    below = table.below_chance
    if below:
        add(f"  below chance (1/{report.campaign.num_classes}) by Dawid–Skene: "
            + ", ".join(below[:10])
            + (f" ({len(below) - 10:,} more, {len(below):,} in all: see the annotator table)"
               if len(below) > 10 else "")
            + " — flipped or systematically wrong answers; check them")


def _format_gold(gold: dict, add) -> None:
    add("")
    add(f"Gold answers: {gold['num_items']:,} items"
        + (f", {gold['num_annotations_on_gold']:,} annotations on them"
           if gold.get("num_annotations_on_gold") is not None else ""))
    names = {"majority_vote": "majority vote", "dawid_skene": "Dawid–Skene (held out)",
             "crowdtruth_weighted": "CrowdTruth-weighted"}
    for key, entry in gold["aggregates"].items():
        low, high = entry["interval"]
        add(f"  accuracy on gold, {names[key]:<24} {entry['accuracy']:.3f} "
            f"[{low:.3f}, {high:.3f}]")


def _format_next_round(report, add) -> None:
    plan = report.next_round
    add("")
    add(f"Next round ({plan['objective']} objective, budget {plan['budget']:,}; prior: "
        f"{report.posterior['prior']})")
    for line in plan_lines(plan, options={"max_per_item": "--plan-max-per-item",
                                          "out": "--plan-out"}):
        add(line)


def _fmt(value):
    return "n/a" if value is None else f"{value:.4f}"


