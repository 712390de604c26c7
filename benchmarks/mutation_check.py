"""Does the test suite catch plausible bugs? A small mutation check, run before a release.

Each mutant is one plausible bug: a line of the library replaced by a wrong one. Every new
promise a feature makes comes with a mutant here and a test that catches it (README,
Contributing). The check copies
the working tree to a temporary folder, runs the tests that guard each mutant on the clean copy
(they must pass), then applies the mutant, runs those tests again (they must fail: the mutant is
"caught") and restores the file. Not part of CI: about four minutes on a 2-core machine, most of it
in the few mutants that need a training run. The result is recorded in benchmarks/README.md.

The tests run in the copy (its folder is the current directory, so ``import dqlabels`` and every
``python -m dqlabels_cli`` a test starts load the mutated library).

Usage: python benchmarks/mutation_check.py [--only SUBSTRING]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


T = "tests/"
MUTANTS = [
    Mutant("--hard trains on the soft labels", "dqlabels/learning/training.py",
           'if label_mode == "soft":', 'if label_mode in ("soft", "hard"):',
           (T + "test_training.py::test_hard_targets_are_one_hot_lowest_index_majority_votes",)),
    Mutant("KL without renormalising floored predictions", "dqlabels/labels/scores.py",
           "return p / p.sum(axis=1, keepdims=True)", "return p", (T + "test_scores.py",)),
    Mutant("DCIC KL without clipping the ground truth", "dqlabels/labels/scores.py",
           "y = np.clip(y, DCIC_EPSILON, 1 - DCIC_EPSILON)", "y = np.clip(y, 0.0, 1.0)",
           (T + "test_scores.py",)),
    Mutant("ECE bins [a, b) instead of (a, b]", "dqlabels/labels/scores.py",
           "np.ceil(confidence * num_bins).astype(np.int64) - 1",
           "np.floor(confidence * num_bins).astype(np.int64)", (T + "test_scores.py",)),
    Mutant("float tie bound 1e-4 instead of 1e-12", "dqlabels/labels/aggregation.py",
           "row_max - FLOAT_TIE * np.maximum", "row_max - 1e-4 * np.maximum",
           (T + "test_aggregation.py",)),
    Mutant("ties beyond 255 classes to the highest index", "dqlabels/labels/aggregation.py",
           "labels, tied = np.argmax(is_top, axis=1),",
           "labels, tied = is_top.shape[1] - 1 - np.argmax(is_top[:, ::-1], axis=1),",
           (T + "test_aggregation.py",)),
    Mutant("Dawid–Skene tolerance not scaled per annotation", "dqlabels/labels/dawid_skene.py",
           "self.tol * max(num_annotations, 1)", "self.tol", (T + "test_aggregation.py",)),
    Mutant("Dawid–Skene without the posterior-movement stop", "dqlabels/labels/dawid_skene.py",
           "moved < self.posterior_tol:", "moved < -1.0:", (T + "test_aggregation.py",)),
    Mutant("Fleiss' κ counts single-annotation items", "dqlabels/labels/scores.py",
           "c, n = c[n >= 2], n[n >= 2]\n    if c.shape[0] == 0:\n        return float(\"nan\")\n"
           "    p_i",
           "c, n = c[n >= 1], n[n >= 1]\n    if c.shape[0] == 0:\n        return float(\"nan\")\n"
           "    p_i", (T + "test_scores.py",)),
    # With probabilities every row sums to 1, so κ and α are undefined (null) even without
    # their own branch; the branch adds why, and dropping it is what the test catches.
    Mutant("κ and α of probabilities not reported as null (and why)", "dqlabels/audit/report.py",
           "    if annotations.is_distribution:\n        return PROBABILITIES_NOTE",
           "    if False:\n        return PROBABILITIES_NOTE", (T + "test_scores.py",)),
    # Promises of the README.
    Mutant("partial training batches kept", "dqlabels/learning/training.py",
           "drop_remainder = train_rows.size >= config.batch_size", "drop_remainder = False",
           (T + "test_training.py::test_every_training_batch_is_full",)),
    Mutant("models loaded without Keras' safe mode", "dqlabels/learning/models.py",
           "load_model(path, safe_mode=True)", "load_model(path, safe_mode=False)",
           (T + "test_models.py::test_load_model_runs_no_code_from_the_file",)),
    Mutant("gold answers not fixed in Dawid–Skene's E-step", "dqlabels/labels/dawid_skene.py",
           "updated[rows] = -np.inf", "pass",
           (T + "test_gold.py::test_gold_aware_dawid_skene_matches_a_plain_loop_reference",)),
    Mutant("annotators ranked by CrowdTruth quality by default", "dqlabels/labels/ranking.py",
           'for key in ("ds_accuracy", "quality")', 'for key in ("quality", "ds_accuracy")',
           (T + "test_audit.py::test_noisy_simulated_campaign_end_to_end",)),
    Mutant("cancelled Label Studio annotations counted", "dqlabels/readers/importers.py",
           'if entry.get("was_cancelled"):', "if False:",
           (T + "test_importers.py::test_label_studio_export",)),
    # Issue 30: promises of plan, gold, ranking, importers, Dawid–Skene and the budget draws.
    Mutant("prior mean: prediction and balance weights swapped", "dqlabels/labels/posterior.py",
           "prior_mean = weight * floored + (1 - weight) * balance",
           "prior_mean = (1 - weight) * floored + weight * balance",
           (T + "test_plan.py::test_prior_mean_is_the_stated_mixture_of_prediction_and_balance",)),
    Mutant("soft plan: least valuable items of a pass first", "dqlabels/labels/plan.py",
           "order = np.lexsort((-values, (counts + requested)[open_items]))",
           "order = np.lexsort((values, (counts + requested)[open_items]))",
           (T + "test_plan.py::test_a_budget_smaller_than_a_pass_goes_to_the_most_valuable_items",)),
    Mutant("plan passes without the expected-count update", "dqlabels/labels/plan.py",
           "        alpha[ranked] += alpha[ranked] / alpha[ranked].sum(axis=1, keepdims=True)\n",
           "", (T + "test_plan.py::test_a_nearly_settled_item_stops_once_certain",)),
    Mutant("held-out Dawid–Skene given all the gold", "dqlabels/labels/gold.py",
           "        hidden[part] = -1\n", "",
           (T + "test_gold.py::test_held_out_dawid_skene_accuracy_of_the_fixture",)),
    Mutant("rejected Prodigy choice tasks counted as votes", "dqlabels/readers/importers.py",
           'skipped["rejected choice tasks"] += 1\n                continue',
           'skipped["rejected choice tasks"] += 1',
           (T + "test_importers.py::test_a_rejected_prodigy_choice_is_no_vote",)),
    Mutant("below chance by the Wilson interval's lower end", "dqlabels/labels/ranking.py",
           "np.array([given[j] for j in scored]))[1]",
           "np.array([given[j] for j in scored]))[0]",
           (T + "test_ranking.py::test_below_chance_needs_the_whole_interval_below_one_over_k",)),
    Mutant("below chance against 0.5 for any number of classes", "dqlabels/labels/ranking.py",
           "upper < 1 / num_classes", "upper < 0.5",
           (T + "test_ranking.py::test_below_chance_needs_the_whole_interval_below_one_over_k",)),
    Mutant("gold class index K let through", "dqlabels/labels/dawid_skene.py",
           "(gold >= annotations.num_classes)", "(gold > annotations.num_classes)",
           (T + "test_gold.py::test_a_gold_class_index_one_past_the_last_is_refused_in_one_line",)),
    Mutant("compiled engine: a gold row's likelihood from the row max", "dqlabels/_kernels.py",
           "log_likelihood += values[gold[item]]", "log_likelihood += top",
           (T + "test_gold.py::test_both_engines_agree_with_gold_on_likelihood_and_stopping",)),
    Mutant("flip bias to the previous class", "dqlabels/data/simulated_crowd.py",
           "np.roll(eye, 1, axis=1)", "np.roll(eye, -1, axis=1)",
           (T + "test_ranking.py::test_a_flip_annotator_answers_the_next_class",)),
    Mutant("real-data budget draws with replacement", "dqlabels/studies/budget.py",
           "labels = rng.permutation(np.repeat(np.arange(k), row))[:most]",
           "labels = rng.choice(np.repeat(np.arange(k), row), size=min(most, int(row.sum())))",
           (T + "test_budget.py::test_real_answers_are_drawn_from_an_urn_without_replacement",)),
    # Issue 26: what the audit and the plan say.
    Mutant("a layout guessed without an item column", "dqlabels/readers/layouts.py",
           "if item_col is None:  # a guess without an item column", "if False:  # a guess",
           (T + "test_bad_input.py::test_bad_annotations",)),
    Mutant("guessed counts that look like ids accepted", "dqlabels/readers/layouts.py",
           "        _refuse_id_like_counts(matrix, value_cols, item_col, source)\n", "",
           (T + "test_bad_input.py::test_bad_annotations",)),
    Mutant("gold items counted as certain", "dqlabels/labels/plan.py",
           "certain=sure, gold=known", "certain=certain, gold=known",
           (T + "test_plan.py::test_certain_and_gold_items_get_nothing",)),
    Mutant("the plan's rows in item order", "dqlabels/labels/plan.py",
           "order = asked[np.lexsort((asked, -self.requested[asked], -gain[asked]))]",
           "order = asked", (T + "test_plan.py::test_plan_command_writes_the_next_round",)),
    Mutant("expected loss after a round from the expected counts", "dqlabels/labels/plan.py",
           "updated = a + answers.multinomial(n, p)",
           "updated = a + n[..., None] * a / a.sum(axis=-1, keepdims=True)",
           (T + "test_plan.py::test_expected_loss_after_one_and_two_answers_by_hand",)),
    Mutant("soft tolerance compared with the variance", "dqlabels/labels/plan.py",
           'return posterior_spread(alpha) < TOLERANCE["soft"]',
           'return _variance(alpha) < TOLERANCE["soft"]',
           (T + "test_plan.py::test_the_soft_tolerance_is_a_posterior_spread_of_0_1",)),
    Mutant("least reliable list opens with tiny samples", "dqlabels/audit/annotators.py",
           "for entry in enough[:NUM_LISTED]:", "for entry in scored[:NUM_LISTED]:",
           (T + "test_audit.py::test_least_reliable_list_leaves_out_tiny_samples_and_says_so",)),
    # Issue 27: real images.
    Mutant("a verdict from the mean, not the interval", "dqlabels/studies/verdicts.py",
           "    if low > 0 or high < 0:", "    if (low + high) != 0:",
           (T + "test_verdicts.py",)),
    Mutant("natural augmentation rotates too", "dqlabels/learning/tfdata.py",
           "        return tf.image.stateless_random_flip_left_right(image, seed=seed + 1)\n"
           "    k = tf.random",
           "        return tf.image.rot90(image, 2)\n    k = tf.random",
           (T + "test_tfdata.py::test_augmentation_per_dataset_kind",)),
    Mutant("K-fold folds not stratified by class", "dqlabels/data/datasets.py",
           '    order = order[np.argsort(labels[order], kind="stable")]  # by class, random within'
           '\n    folds = np.empty', "    folds = np.empty",
           (T + "test_datasets.py::test_kfold_split_is_stratified_seeded_and_covers_every_item_once",)),
    Mutant("cross-entropy vs human without the floor", "dqlabels/studies/real_study.py",
           "np.log(np.maximum(predicted, CE_FLOOR))", "np.log(predicted)",
           (T + "test_real_study.py::test_human_cross_entropy_by_hand",)),
    Mutant("photographs augmented like the shapes by default", "dqlabels/data/datasets.py",
           'return "symmetric" if is_synthetic(dataset) or dataset.layout == "dcic" else "natural"',
           'return "symmetric"', (T + "test_datasets.py::test_augmentation_follows_the_dataset",)),
    # Issues 28 and 29: the audit's speed and the house.
    Mutant("%.6g rounds a near-half by float arithmetic", "dqlabels/csv_text.py",
           "python = (np.abs(s - floor - 0.5) < 1e-6)", "python = (np.abs(s - floor - 0.5) < 0)",
           (T + "test_audit.py::test_six_digit_formatting_equals_python_on_a_million_values",)),
    Mutant("top ten ties cut from the end", "dqlabels/audit/report.py",
           "np.flatnonzero(values == kth)[:k - len(below)]",
           "np.flatnonzero(values == kth)[len(below) - k:]",
           (T + "test_audit.py::test_smallest_is_the_head_of_a_stable_argsort",)),
    Mutant("tallies of another prior reused", "dqlabels/audit/report.py",
           "if tallies is None or tallies.predictions is not predictions:",
           "if tallies is None:",
           (T + "test_audit.py::test_tallies_without_predictions_are_not_used_for_an_audit_with_predictions",)),
    Mutant("the annotators' figure plots another score", "dqlabels/figures.py",
           "key = report.annotators.ranked_by", 'key = "agreement"',
           (T + "test_audit.py::test_the_page_and_the_png_files_show_the_same_figures_drawn_once",)),
    Mutant("bounded minimum keeps the old point on equal values", "dqlabels/minimize.py",
           "        if fu <= fx:", "        if fu < fx:",
           (T + "test_plan.py::test_the_bounded_minimum_is_scipys_to_the_last_bit",)),
    Mutant("the process exit drops the command's status", "dqlabels/commandline.py",
           "    os._exit(status)", "    os._exit(0)",
           (T + "test_bad_input.py::test_the_process_exit_flushes_every_line_and_keeps_the_status",)),
    Mutant("the user's switch interval not restored", "dqlabels/_parallel.py",
           "        sys.setswitchinterval(previous)", "        pass",
           (T + "test_audit.py::test_evaluate_shortens_the_switch_interval_only_while_two_threads_work",)),
    Mutant("annotators ranked most reliable first", "dqlabels/audit/sections.py",
           "            e.few_answers, e.score(key) is None, e.score(key) or 0.0, e.annotator)))",
           "            e.few_answers, e.score(key) is None, -(e.score(key) or 0.0), e.annotator)))",
           (T + "test_audit.py::test_the_report_is_typed_frozen_and_its_json_is_what_evaluate_writes",)),
    Mutant("sections not computed written as null keys", "dqlabels/audit/sections.py",
           'if not (f.metadata.get("optional") and getattr(self, f.name) is None)}',
           "}", (T + "test_audit.py",)),
    Mutant("a failed audit leaves the staged labels file behind", "dqlabels/commands/evaluate.py",
           "                discard_staged(labels.result())", "                pass",
           (T + "test_audit.py::test_the_labels_file_written_beside_the_audit_appears_only_if_the_audit_succeeds",)),
    Mutant("repeated pairs taken as checked when kept", "dqlabels/readers/annotations_type.py",
           'if annot_codes is not None and duplicates != "keep":', "if annot_codes is not None:",
           (T + "test_audit.py::test_repeated_pairs_known_from_reading_agree_with_a_fresh_check",)),
    # Issue 28, fourth session: the reader's encoding, Arrow without pandas, the CLI's tuning.
    Mutant("a Parquet dictionary's unused values taken as items", "dqlabels/readers/tables.py",
           "            if not dictionary.null_count and np.bincount(",
           "            if True or np.bincount(",
           (T + "test_annotations.py::test_parquet_dictionary_with_unused_values_makes_no_empty_items",)),
    Mutant("null codes read as the first value", "dqlabels/_arrow.py",
           "    return np.where(_bits(array.buffers()[0], array.offset, len(array)), values, null)",
           "    return values",
           (T + "test_annotations.py::test_text_columns_encoded_by_the_csv_reader_match_a_plain_read",)),
    Mutant("texts holding a NUL split at it", "dqlabels/_arrow.py",
           "    if len(ends) == max(len(values) - 1, 0):", "    if True:",
           (T + "test_arrow.py::test_text_and_chunks",)),
    Mutant("a short text padded one place too long", "dqlabels/csv_text.py",
           "np.where(lengths > j, data[np.minimum(starts + j, last)], 0)",
           "np.where(lengths >= j, data[np.minimum(starts + j, last)], 0)",
           (T + "test_audit.py::test_labels_csv_in_many_blocks_and_with_a_nul_equals_the_row_writer",)),
    Mutant("powers beyond 1e22 off by one place", "dqlabels/csv_text.py",
           "        out[far] *= _POW10[step + 22]", "        out[far] *= _POW10[step + 21]",
           (T + "test_audit.py::test_six_digit_formatting_equals_python_on_a_million_values",)),
    Mutant("the shared posterior mean left writable", "dqlabels/labels/posterior.py",
           "    values.flags.writeable = False", "    pass",
           (T + "test_plan.py::test_posterior_mean_and_spread_computed_once_and_read_only",)),
    Mutant("ids taken as listed in order", "dqlabels/readers/tables.py",
           "    return len(array) < 2 or bool(", "    return True or bool(",
           (T + "test_annotations.py::test_long_csv_counts_items_classes",)),
    Mutant("blocks of the plan's draws from one generator", "dqlabels/labels/plan.py",
           "    answers, gammas = np.random.default_rng(GAIN_SEED), np.random.default_rng(GAIN_SEED)",
           "    answers = gammas = np.random.default_rng(GAIN_SEED)",
           (T + "test_plan.py::test_the_expected_loss_after_a_round_is_the_same_drawn_in_blocks",)),
    Mutant("the plan's gain recomputed from another round", "dqlabels/labels/plan.py",
           "                 float(self.loss_after[i]), float(gain[i]), str(self.reasons[i]))",
           "                 float(self.loss_after[i]), float(gain[0]), str(self.reasons[i]))",
           (T + "test_plan.py::test_plan_command_writes_the_next_round",)),
    Mutant("every command tuned as the audit", "cli/__init__.py",
           "    if argv[1:2] and argv[1] in AUDIT_COMMANDS:", "    if True:",
           (T + "test_imports.py::test_the_audit_commands_run_without_cyclic_gc_and_with_one_blas_thread",)),
    Mutant("the user's OpenBLAS threads overridden", "cli/__init__.py",
           '        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")',
           '        os.environ["OPENBLAS_NUM_THREADS"] = "1"',
           (T + "test_imports.py::test_the_audit_commands_run_without_cyclic_gc_and_with_one_blas_thread",)),
    # Issue 36: what the user wrote comes back as written; a prior that respects the votes
    Mutant("ids read as numbers again", "dqlabels/readers/tables.py",
           "            for name, raw in by_name.items() if name in wanted}",
           "            for name, raw in by_name.items() if name in wanted and False}",
           (T + "test_as_written.py::test_every_output_joins_back_on_the_ids_as_written",)),
    Mutant("ids equal as numbers ordered by position, not text", "dqlabels/readers/tables.py",
           "        if np.any(numbers[order][1:] == numbers[order][:-1]):", "        if False:",
           (T + "test_as_written.py::test_natural_order_keeps_ids_apart_and_sorts_big_integers",)),
    Mutant("20-digit ids cast to int64", "dqlabels/readers/tables.py",
           "        if pc.max(pc.utf8_length(array)).as_py() > 18:",
           "        if pc.max(pc.utf8_length(array)).as_py() > 30:",
           (T + "test_as_written.py::test_natural_order_keeps_ids_apart_and_sorts_big_integers",)),
    Mutant("spaces around names kept", "dqlabels/readers/tables.py",
           "    if not changed:\n        return codes, dictionary, 0",
           "    if True:\n        return codes, dictionary, 0",
           (T + "test_as_written.py::test_spaces_are_trimmed_and_said_and_case_variants_named_or_merged",)),
    Mutant("case variants merged into the least used spelling", "dqlabels/readers/names.py",
           "        keep = max(group, key=lambda j: (used[j], -group.index(j)))",
           "        keep = min(group, key=lambda j: (used[j], -group.index(j)))",
           (T + "test_as_written.py::test_spaces_are_trimmed_and_said_and_case_variants_named_or_merged",)),
    Mutant("a table of whole numbers read as counts without a word", "dqlabels/readers/layouts.py",
           '    return "ambiguous"', '    return "guessed-counts-or-probs"',
           (T + "test_as_written.py::test_a_table_of_class_numbers_is_wide_by_its_names_or_refused",)),
    Mutant("numbered annotator columns not read as wide", "dqlabels/readers/layouts.py",
           '    if annotator_like(value_cols):\n        return "wide"',
           '    if annotator_like(value_cols):\n        return "ambiguous"',
           (T + "test_as_written.py::test_a_table_of_class_numbers_is_wide_by_its_names_or_refused",)),
    Mutant("ten answers counted as too few", "dqlabels/audit/sections.py",
           "        return self.num_annotations < MIN_LISTED_ANNOTATIONS",
           "        return self.num_annotations <= MIN_LISTED_ANNOTATIONS",
           (T + "test_as_written.py::test_an_annotator_with_exactly_ten_answers_is_ranked",)),
    Mutant("one annotator's agreement measured", "dqlabels/labels/scores.py",
           "    if num_annotators == 1:", "    if num_annotators == 0:",
           (T + "test_as_written.py::test_one_annotator_makes_agreement_not_measurable",)),
    Mutant("the cap's unspent budget blamed on certain items", "dqlabels/labels/plan.py",
           'unspent_reason=None if not left else ("max_per_item" if capped else "certain"),',
           'unspent_reason=None if not left else "certain",',
           (T + "test_plan.py::test_the_cap_per_item_is_named_when_it_leaves_budget_unspent",)),
    Mutant("the even spread's rest in item order", "dqlabels/labels/plan.py",
           '    order = open_items[np.argsort(counts[open_items], kind="stable")]',
           "    order = open_items",
           (T + "test_plan.py::test_the_even_spread_gives_the_rest_to_the_fewest_annotations_first",)),
    Mutant("the mixture's spread without the spread between components",
           "dqlabels/labels/posterior.py",
           "        variance = (r * ((1 - square) / (total + 1) + square)).sum(axis=1) - centre",
           "        variance = (r * ((1 - square) / (total + 1))).sum(axis=1)",
           (T + "test_posterior.py::test_the_one_dirichlet_keeps_the_mixtures_mean_and_summed_variance",)),
    Mutant("the shrunk label centred on the class balance again", "dqlabels/labels/posterior.py",
           '    if predictions is None and prior == "classes" and np.any(multi) and (',
           '    if predictions is None and prior == "nothing" and np.any(multi) and (',
           (T + "test_posterior.py::test_one_prior_centred_on_the_balance_overturned_them",)),
    Mutant("a campaign of a few items fitted as a mixture", "dqlabels/labels/posterior.py",
           "    enough = int(np.count_nonzero(multi)) >= MIXTURE_MIN_ITEMS_PER_CLASS * counts.shape[1]",
           "    enough = True",
           (T + "test_posterior.py::test_a_small_campaign_gets_the_class_balance",)),
    # Issue 37: the training and study half, mutants a developer could really make (the
    # issue's audit), each caught by a test worked out without the code under test.
    Mutant("soft equal to hard on every fold called a finding", "dqlabels/studies/verdicts.py",
           "    if low > 0 or high < 0:", "    if low >= 0 or high <= 0:",
           (T + "test_verdicts.py::test_soft_and_hard_equal_on_every_fold_are_a_tie",)),
    Mutant("10 of 10 folds refused", "dqlabels/studies/real_study.py",
           "    if folds < 2 or not 1 <= runs <= folds:", "    if folds < 2 or not 1 <= runs < folds:",
           (T + "test_real_study.py::test_all_ten_of_ten_folds_are_accepted",)),
    Mutant("the folds ignore --seed", "dqlabels/studies/real_study.py",
           '                hard, k, settings["folds"], seed=seed, val_size=settings["val_size"]))',
           '                hard, k, settings["folds"], seed=0, val_size=settings["val_size"]))',
           (T + "test_real_study.py::test_the_study_scores_original_labels_and_calibration_and_follows_its_seed",)),
    Mutant("accuracy against the majority, not the original labels", "dqlabels/studies/real_study.py",
           '"accuracy": float(np.mean(np.argmax(predicted, axis=1) == hard[rows])),',
           '"accuracy": float(np.mean(np.argmax(predicted, axis=1) == data.hard_labels[rows])),',
           (T + "test_real_study.py::test_the_study_scores_original_labels_and_calibration_and_follows_its_seed",)),
    Mutant("a higher ECE taken as better", "dqlabels/studies/real_study.py",
           '"macro_f1": True, "ece": False}', '"macro_f1": True, "ece": True}',
           (T + "test_real_study.py::test_the_study_scores_original_labels_and_calibration_and_follows_its_seed",)),
    Mutant("every split draws the same simulated answers", "dqlabels/studies/budget.py",
           '                               settings["crowd"], [seed, 100 + k])',
           '                               settings["crowd"], [seed, 100])',
           (T + "test_budget.py::test_tiny_budget_study_with_the_shrunk_arm",)),
    Mutant("real answers taken from the urn in class order", "dqlabels/studies/budget.py",
           "        labels = rng.permutation(np.repeat(np.arange(k), row))[:most]",
           "        labels = np.repeat(np.arange(k), row)[:most]",
           (T + "test_budget.py::test_real_answers_are_drawn_from_a_shuffled_urn",)),
    Mutant("ResNet-9 widths doubled per stage, not squared", "dqlabels/learning/models.py",
           'x = conv_bn(x, width * 2 ** stage, f"stage{stage}")',
           'x = conv_bn(x, width * 2 * stage, f"stage{stage}")',
           (T + "test_models.py::test_resnet9_has_its_documented_size_and_two_residual_adds",)),
    Mutant("ResNet-9 without its residual connections", "dqlabels/learning/models.py",
           '            x = keras.layers.Add(name=f"stage{stage}_add")([x, y])', "            x = y",
           (T + "test_models.py::test_resnet9_has_its_documented_size_and_two_residual_adds",)),
    Mutant("the same augmentation every epoch", "dqlabels/learning/tfdata.py",
           "        epoch_seed = tf.constant(seed + epoch, tf.int64)",
           "        epoch_seed = tf.constant(seed, tf.int64)",
           (T + "test_tfdata.py::test_the_same_image_is_augmented_anew_each_epoch",)),
    Mutant("precise BatchNorm on augmented images", "dqlabels/learning/training.py",
           "    batches = make_evaluation_dataset(dataset.paths[rows], soft[rows], config.image_size,\n"
           "                                      config.batch_size)",
           "    batches = make_training_dataset(dataset.paths[rows], soft[rows], config.image_size,\n"
           "                                    config.batch_size, seed=config.seed,\n"
           '                                    augment_images="natural")',
           (T + "test_precise_bn.py::test_precise_statistics_see_the_training_images_as_they_are",)),
    Mutant("a slice's validity bitmap read from offset 0", "dqlabels/_arrow.py",
           "            values = np.where(_bits(array.buffers()[0], offset, n), values.astype(np.float64),",
           "            values = np.where(_bits(array.buffers()[0], 0, n), values.astype(np.float64),",
           (T + "test_arrow.py::test_a_sliced_arrays_nulls_stay_on_their_rows",)),
    Mutant("probabilities with whole cells taken for ids", "dqlabels/readers/layouts.py",
           "    if matrix.shape[0] < ID_LIKE_ROWS or not np.all(matrix == np.round(matrix)):",
           "    if matrix.shape[0] < ID_LIKE_ROWS or not np.any(matrix == np.round(matrix)):",
           (T + "test_annotations.py::test_a_probabilities_file_with_distinct_values_and_whole_cells_is_read",)),
    Mutant("ten rows of ids read as counts", "dqlabels/readers/layouts.py",
           "    if matrix.shape[0] < ID_LIKE_ROWS or not np.all(matrix == np.round(matrix)):",
           "    if matrix.shape[0] <= ID_LIKE_ROWS or not np.all(matrix == np.round(matrix)):",
           (T + "test_annotations.py::test_a_column_of_ids_on_ten_rows_is_refused_as_ids_and_on_nine_as_two_readings",)),
    Mutant("the worst annotator at exactly ten answers left out", "dqlabels/audit/annotators.py",
           "    enough = [a for a in scored if a.num_annotations >= MIN_LISTED_ANNOTATIONS]",
           "    enough = [a for a in scored if a.num_annotations > MIN_LISTED_ANNOTATIONS]",
           (T + "test_as_written.py::test_an_annotator_with_exactly_ten_answers_is_ranked",)),
    # Issue 40: the budget study on real answers.
    Mutant("a study of every image writes into the user's dataset", "dqlabels/studies/budget.py",
           "    folder.mkdir(parents=True, exist_ok=True)\n    items = full.items[rows]",
           "    if rows.size == full.num_items:\n        return Path(data_dir)\n"
           "    folder.mkdir(parents=True, exist_ok=True)\n    items = full.items[rows]",
           (T + "test_budget.py::test_tiny_budget_study_with_the_shrunk_arm",)),
    Mutant("real photographs' accuracy against the majority", "dqlabels/studies/budget_photos.py",
           'source = "original" if dataset_facts(full)["hard_labels"] is not None else "majority"',
           'source = "majority"',
           (T + "test_budget_photos.py",)),
    Mutant("the shrunk arm at every budget whatever the list", "dqlabels/studies/budget.py",
           "shrunk is True or shrunk is not False and budget in shrunk)",
           "shrunk is not False)",
           (T + "test_budget_presets.py::test_the_shrunk_arm_trains_at_every_budget_or_at_those_listed",)),
    Mutant("ResNet-9 pools 3×3", "dqlabels/learning/models.py",
           'x = keras.layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)',
           'x = keras.layers.MaxPooling2D(3, name=f"stage{stage}_pool")(x)',
           (T + "test_models.py::test_resnet9_layers_and_shapes_by_hand",)),
    Mutant("fold_case ignores the spelling of the classes given", "dqlabels/readers/names.py",
           "spelling[keep] = given.get(keys[keep], names[keep])", "spelling[keep] = names[keep]",
           (T + "test_layout_details.py::test_fold_case_takes_the_spelling_of_the_classes_given",)),
    Mutant("--overwrite refuses a folder with the user's own files", "dqlabels/_io.py",
           "if folder.exists() and any(folder.iterdir()) and not overwrite:",
           "if folder.exists() and any(folder.iterdir()):",
           (T + "test_study_results.py::"
                "test_the_study_record_is_indented_json_and_the_folder_must_be_a_study",)),
    Mutant("an .npz under a .npy name read as a matrix", "dqlabels/readers/layouts.py",
           "    if not isinstance(matrix, np.ndarray):  # an .npz archive under a .npy name",
           "    if False:  # an .npz archive under a .npy name",
           (T + "test_layout_details.py::test_npy_refusals_word_for_word",)),
    Mutant("the K-fold study gives the soft runs the original labels too",
           "dqlabels/studies/real_study.py",
           'targets = str(hard_file) if mode == "hard" and hard_file is not None else None',
           'targets = str(hard_file) if hard_file is not None else None',
           (T + "test_real_study_loop.py::test_the_k_fold_loop_by_hand",)),
    Mutant("the study's clock times reused runs", "dqlabels/studies/study.py",
           "            clock.run_finished(reused)\n            runs.append({\"split\"",
           "            clock.run_finished(False)\n            runs.append({\"split\"",
           (T + "test_study_loop.py::"
                "test_the_loop_runs_every_split_and_mode_in_order_and_writes_the_results",)),
]


def pytest(copy: Path, tests) -> tuple[bool, float, str]:
    """Run ``tests`` in the copy; (passed, seconds, last lines of output)."""
    started = time.perf_counter()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           "-o", "addopts=", *tests], cwd=copy, env=env, capture_output=True,
                          text=True)
    tail = "\n".join(proc.stdout.strip().splitlines()[-3:])
    return proc.returncode == 0, time.perf_counter() - started, tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="run the mutants whose name has this text")
    args = parser.parse_args()
    mutants = [m for m in MUTANTS if args.only is None or args.only in m.name]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="dqlabels-mutants-") as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(
            ".venv", ".git", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache"))
        if (REPO.parent / "shared").exists():  # the data the tests read from ../shared
            (Path(tmp) / "shared").symlink_to(REPO.parent / "shared")
        probe = subprocess.run([sys.executable, "-c", "import dqlabels; print(dqlabels.__file__)"],
                               cwd=copy, capture_output=True, text=True, check=True)
        assert probe.stdout.startswith(str(copy)), probe.stdout  # the copy is what gets tested
        every_test = sorted({t for m in mutants for t in m.tests})
        passed, seconds, tail = pytest(copy, every_test)
        if not passed:
            print(f"the guarding tests fail on the clean copy:\n{tail}")
            return 1
        print(f"clean copy: the guarding tests pass ({seconds:.0f} s)\n")
        print("| mutant | file | caught | seconds |")
        print("|---|---|---|---:|")
        caught = 0
        for mutant in mutants:
            target = copy / mutant.path
            original = target.read_text(encoding="utf-8")
            if original.count(mutant.old) != 1:
                print(f"| {mutant.name} | {mutant.path} | the line to mutate is not found "
                      f"exactly once | |")
                continue
            target.write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
            try:
                passed, seconds, _ = pytest(copy, mutant.tests)
            finally:
                target.write_text(original, encoding="utf-8")
            caught += not passed
            print(f"| {mutant.name} | `{mutant.path}` | {'yes' if not passed else '**no**'} | "
                  f"{seconds:.0f} |", flush=True)
        print(f"\ncaught {caught} of {len(mutants)} mutants")
        return 0 if caught == len(mutants) else 1


if __name__ == "__main__":
    sys.exit(main())
