"""What a plan of the next round does and buys, in words (:func:`plan_lines`): the lines that
``dqlabels plan`` and ``dqlabels evaluate --plan-budget`` print, from :meth:`Plan.summary
<dqlabels.labels.plan.Plan.summary>`."""

from __future__ import annotations

from dqlabels.text import plural


def plan_lines(summary: dict, listed: int = 10, csv_path=None,
               options: dict | None = None) -> list[str]:
    """The lines that say what a plan does and buys, shared by ``dqlabels plan`` and
    ``dqlabels evaluate --plan-budget``: the items' state, the prior, what the round asks for
    and is expected to buy beside the same budget spread evenly, the loss by annotations so
    far, and the first ``listed`` items (``csv_path``: the CSV written, if any, that lists them
    all; ``options``: the command's own names of ``max_per_item`` and ``out``)."""
    options = {"max_per_item": "max_per_item", "out": "out", **(options or {})}
    prior, objective = summary["prior"], summary["objective"]
    gold = summary["num_gold"]
    lines = [
        f"  {plural(summary['num_uncertain'], 'item')} uncertain, {summary['num_certain']:,} "
        f"certain (posterior spread below {summary['tolerance']:g})" if objective == "soft" else
        f"  {plural(summary['num_uncertain'], 'item')} uncertain, {summary['num_certain']:,} "
        f"certain (under a {summary['tolerance']:.0%} chance that the top class is not the "
        f"majority)",
        f"  {plural(gold, 'item')} with gold answers get none" if gold else None,
        f"  {summary['annotations_per_item']:.2f} annotations per item so far; prior "
        + _prior_words(prior, summary["num_items"]),
    ]
    if summary["budget"] == 0:
        return [line for line in lines if line is not None] + [
            "  budget 0: nothing to plan"]
    lines.append(f"  asks for {plural(summary['budget'] - summary['unspent'], 'annotation')} on "
                 f"{plural(summary['items_requested'], 'item')}"
                 + _unspent_words(summary, options["max_per_item"]))
    lines += _expected_lines(summary)
    measure = "mean expected KL" if objective == "soft" else "mean chance not the majority"
    sizes = summary.get("items_by_annotations", {})
    lines.append(f"  by annotations per item so far → {measure} (items): "
                 + ", ".join(f"{n} → {v:.3f} ({int(sizes.get(n, 0)):,})" for n, v in
                             list(summary["loss_by_annotations"].items())[:8]))
    for entry in summary["next_round"][:listed]:
        lines.append(f"    {entry['item'][:30]:<30} +{entry['annotations']}  {entry['reason']}")
    if len(summary["next_round"]) > listed:
        where = (f"{csv_path} lists them all" if csv_path is not None else
                 f"{options['out']} FILE writes them all")
        lines.append(f"    … and {plural(len(summary['next_round']) - listed, 'more item')} "
                     f"({where}, largest expected gain first)")
    return [line for line in lines if line is not None]


def _prior_words(prior: dict, num_items: int) -> str:
    """The prior in a few words: its kind and strength, the predictions' weight."""
    kind = {"classes": "one component per true class", "balance": "the class balance",
            "predictions": "predictions"}.get(prior.get("prior_kind"), "the class balance")
    words = (f"from {kind}, strength {prior['strength']:.2f}"
             + (" (mean over items)" if prior.get("prior_kind") == "classes" else "")
             + f" ({'fitted' if prior['strength_fitted'] else 'default'})")
    if prior["prediction_weight"] is not None:
        words += (f"; predictions (for {prior['num_predicted']:,} of {num_items:,} items) "
                  f"weigh {prior['prediction_weight']:.2f} against the class balance")
    return words


def _unspent_words(summary: dict, cap_option: str) -> str:
    """Why part of the budget is left unspent, by the rule that left it."""
    if not summary["unspent"]:
        return ""
    if summary["unspent_reason"] == "max_per_item":
        return (f"; {summary['unspent']:,} left unspent: the uncertain items already get the "
                f"most one round gives an item ({summary['max_per_item']}; {cap_option} "
                f"raises it)")
    return (f"; {summary['unspent']:,} left unspent (every other item is certain"
            + (" or has a gold answer)" if summary["num_gold"] else ")"))


def _expected_lines(summary: dict) -> list[str]:
    """What the round is expected to buy, beside the same budget spread evenly."""
    expected = summary["expected"]
    if summary["objective"] == "soft":
        now, after, even = (expected[f"mean_kl_{w}"] for w in ("now", "after", "after_even"))
        lines = [f"  expected: mean KL {now:.4f} → {after:.4f} nats, mean posterior spread "
                 f"{expected['mean_posterior_spread_now']:.3f} → "
                 f"{expected['mean_posterior_spread_after']:.3f}",
                 f"  the same budget spread evenly: mean KL {now:.4f} → {even:.4f} nats"]
        better = even - after
    else:
        now, after, even = (expected[f"majority_agreement_{w}"]
                            for w in ("now", "after", "after_even"))
        lines = [f"  expected: agreement with the annotators' long-run majority {now:.4f} → "
                 f"{after:.4f} (the chance that an item's top class is the majority its "
                 f"annotators would reach; not accuracy on gold)",
                 f"  the same budget spread evenly: {now:.4f} → {even:.4f}"]
        better = after - even
    if summary["budget"] - summary["unspent"] == 0 or abs(now - after) < 5e-5:
        lines.append("  this plan is expected to gain nothing")
    elif better <= 5e-5:
        lines.append("  this plan is expected to gain no more than spreading the budget evenly")
    return lines
