"""Regenerate the malformed-input corpus in tests/corpus/bad (run from anywhere).

The files are committed; this script documents how each was made.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "bad"

TEXT = {
    "empty.csv": "",
    "header_only.csv": "item,annotator,label\n",
    "no_label_column.csv": "item,annotator,choice\na,u1,cat\n",
    "negative_count.csv": "item,cat,dog\nx,1,2\ny,-1,2\n",
    "fractional_count.csv": "item,cat,dog\nx,1,2\ny,1.5,2\n",
    "missing_count.csv": "item,cat,dog\nx,1,2\ny,,2\n",
    "probs_not_one.csv": "item,cat,dog\nx,0.5,0.5\ny,0.5,0.4\n",
    "probs_negative.csv": "item,cat,dog\nx,1.25,-0.25\n",
    "ragged.csv": "item,annotator,label\na,u1,cat\na,u2,dog,extra\n",
    "duplicate_pair.csv": "item,annotator,label\na,u1,cat\nb,u1,dog\na,u1,dog\n",
    "unknown_class.csv": "item,annotator,label\na,u1,cat\na,u2,owl\n",
    "missing_item.csv": "item,annotator,label\na,u1,cat\n,u2,dog\n",
    "missing_annotator.csv": "item,annotator,label\na,u1,cat\na,,dog\n",
    "all_labels_missing.csv": "item,annotator,label\na,u1,\nb,u1,\n",
    "duplicate_header.csv": "item,label,Label\na,cat,dog\n",
    "counts_text_cell.csv": "item,cat,dog\nx,1,2\ny,many,1\n",
    "duplicate_item_counts.csv": "item,cat,dog\nx,1,2\nx,0,1\n",
    "broken.json": '[{"annotations": [{"image_path": "a.png", "class_label": "x"}\n',
    "wrong_structure.json": '{"foo": 1}\n',
    "empty_list.json": "[]\n",
    "dcic_missing_key.json": '[{"annotations": [{"image_path": "a.png"}]}]\n',
    "broken.parquet": "PAR1 this is not really parquet PAR1",
    "predictions_wrong_class.csv": "item,cat,dog,owl\na,0.5,0.25,0.25\n",
    "predictions_missing_class.csv": "item,cat\na,1.0\n",
    "predictions_unknown_item.csv": "item,cat,dog\na,0.5,0.5\nzzz,0.5,0.5\n",
    "predictions_bad_sum.csv": "item,cat,dog\na,0.5,0.7\n",
    "predictions_unknown_label.csv": "item,label\na,owl\n",
    # Tool exports that are recognised but malformed: the message names the missing field.
    "label_studio_no_completed_by.json": '[{"id": 1, "data": {"image": "a.jpg"}, '
                                         '"annotations": [{"result": []}]}]\n',
    "label_studio_multi_choice.json": '[{"id": 1, "data": {"image": "a.jpg"}, "annotations": '
                                      '[{"completed_by": 1, "result": [{"type": "choices", '
                                      '"from_name": "c", "value": {"choices": ["Cat", "Dog"]}}]}]}]\n',
    "mturk_no_answer.csv": "HITId,WorkerId,AssignmentStatus,Input.image_url\nh1,w1,Approved,a.jpg\n",
    "toloka_no_worker.tsv": "INPUT:image\tOUTPUT:result\tASSIGNMENT:status\na.jpg\tcat\tACCEPTED\n",
    "prodigy_no_answer.jsonl": '{"_input_hash": 1, "_session_id": "a", "accept": ["X"], '
                               '"answer": "accept"}\n{"_input_hash": 2, "_session_id": "a", '
                               '"accept": ["X"]}\n',
    "prodigy_no_input_hash.jsonl": '{"_session_id": "a", "accept": ["X"], "answer": "accept"}\n',
    # Misread files: a long table whose columns have no known name. Guessed as counts, the
    # worker ids would be summed as votes; now refused with the columns found and the options.
    "misread_integer_ids.csv": "img,person,tag\n" + "".join(
        f"{i // 3},{(7 * i) % 11},{i % 4}\n" for i in range(30)),
    "misread_string_ids.csv": "img,person,tag\n" + "".join(
        f"im{i // 3}.jpg,w{(7 * i) % 11},c{i % 4}\n" for i in range(30)),
    "misread_class_header.csv": "cat,dog,bird\n" + "".join(
        f"{i // 3},{(7 * i) % 11},{i % 4}\n" for i in range(30)),
    # An item column, but a "count" column that is a running number: ids, not counts.
    "misread_id_counts.csv": "item,seq,tag\n" + "".join(
        f"q{i},{1000 + i},{i % 3}\n" for i in range(12)),
    "semicolon_duplicate_pair.csv": "item;annotator;label\na;u1;cat\na;u1;dog\n",
}


def main():
    HERE.mkdir(exist_ok=True)
    for name, text in TEXT.items():
        (HERE / name).write_text(text, encoding="utf-8")
    (HERE / "binary_garbage.csv").write_bytes(bytes(range(256)) * 4)
    (HERE / "bad_encoding.csv").write_bytes(
        b"item,annotator,label\na,u1,cat\nb,u2," + "chien ñ".encode("latin-1") + b"\n")
    # Latin-1 text and a malformed last line: once an "Exception ignored … on_invalid_row"
    # traceback and a garbled message; one clean line now.
    (HERE / "latin1_ragged_last_line.csv").write_bytes(
        b"item,annotator,label\na,u1," + "caf\xe9".encode("latin-1") + b"\nb,u2,dog\nc,u3\n")
    np.save(HERE / "object_dtype.npy", np.array([{"a": 1}, None], dtype=object))
    np.save(HERE / "one_dimensional.npy", np.arange(4))
    full = HERE / "truncated.npy"
    np.save(full, np.ones((50, 3)))
    full.write_bytes(full.read_bytes()[:200])
    (HERE / "a_directory").mkdir(exist_ok=True)
    (HERE / "a_directory" / ".keep").write_text("")


if __name__ == "__main__":
    main()
