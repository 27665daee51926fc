"""Tokenizer alignment (`distill.build.align`): hand-built cases, numbers, properties, GSM8K agreement.

The teacher is GPT BPE (tiktoken p50k_base, Codex's encoding, or a Hugging Face tokenizer.json),
the student T5's SentencePiece, both from the shared data directory. Expected rows are written out
by hand from the rules in `distill/build/align/fast.py` and docs/method.md 3.2.
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distill.build.align import StudentVocab, align, dtw, targets, teacher_tokens
from distill.build.align.teacher_tokens import TeacherSequence, sequence
from distill.contracts import token_bytes
from distill.contracts.distill_examples import NO_MASS
from distill.data import formats, sources
from distill.data.normalize import normalize_text
from distill.generate import stand_in

SHARED = os.environ["COT_DATA_DIR"]
P50K = os.path.join(SHARED, "tokenizers/gpt2/p50k_base.tiktoken")
T5_JSON = os.path.join(SHARED, "tokenizers/t5/tokenizer.json")
NONE, IDENTICAL, MERGED = 0, 1, 2


@pytest.fixture(scope="module")
def vocab() -> StudentVocab:
    return StudentVocab(os.path.join(SHARED, "tokenizers/t5/spiece.model"))


@pytest.fixture(scope="module")
def p50k():
    return teacher_tokens.load_tokenizer(P50K)


def teacher(*tokens: tuple[str, float, list[tuple[str, float]]]) -> TeacherSequence:
    """Tokens as (text, log-prob, alternatives); the alternatives follow the sampled token."""
    return sequence(
        [(text.encode(), *(a.encode() for a, _ in alts)) for text, _, alts in tokens],
        [[lp, *(alp for _, alp in alts)] for _, lp, alts in tokens],
    )


def plain(texts: list[bytes], step: float = 0.1) -> TeacherSequence:
    """Tokens without alternatives, token i with log-prob -step*(i+1) (so rows show where they came from)."""
    return sequence([(t,) for t in texts], [[-step * (i + 1)] for i in range(len(texts))])


def pieces(vocab: StudentVocab, result) -> list[str]:
    return [vocab.pieces[i] for i in result.targets]


def row(vocab: StudentVocab, result, position: int) -> dict[str, float]:
    """The transferred distribution at a position as {piece: log-prob}."""
    keep = np.isfinite(result.teacher_logprobs[position])
    ids, lps = result.teacher_ids[position][keep], result.teacher_logprobs[position][keep]
    return {vocab.pieces[i]: float(lp) for i, lp in zip(ids, lps, strict=True)}


def transferred(result) -> list[bool]:
    return np.isfinite(result.teacher_logprobs[:, 0]).tolist()


# --- hand-built cases --------------------------------------------------------------------------


def test_identical_tokens_carry_the_teacher_distribution_exactly(vocab) -> None:
    tokens = teacher(
        ("She", -0.05, [("She", -0.05), ("He", -3.1)]),
        (" sold", -0.25, [(" sold", -0.25), (" bought", -1.5), (" gave", -2.0), ("\n", -3.0), (" sold!", -4.0)]),
        (" 48", -0.5, [(" 48", -0.5), ("48", -1.0), (" 24", -2.5)]),
        (" clips", -0.1, [(" clips", -0.1)]),
        (".", -0.2, [(".", -0.2), ("!", -2.2)]),
    )
    result = align(tokens, "She sold 48 clips.", vocab, 3)
    assert pieces(vocab, result) == ["▁She", "▁sold", "▁48", "▁clips", "."]
    assert result.rule.tolist() == [MERGED, IDENTICAL, IDENTICAL, IDENTICAL, IDENTICAL]
    # Fu et al.'s rule: ' ' -> '▁', kept if a T5 piece ("\n" and " sold!" are not), top-3, log-probs unchanged.
    assert row(vocab, result, 1) == {"▁sold": np.float32(-0.25), "▁bought": np.float32(-1.5), "▁gave": np.float32(-2.0)}
    assert row(vocab, result, 2) == {"▁48": np.float32(-0.5), "48": np.float32(-1.0), "▁24": np.float32(-2.5)}
    assert row(vocab, result, 4) == {".": np.float32(-0.2), "!": np.float32(-2.2)}
    # The reference gives the same rows wherever it transfers; its "She" vs "▁She" is not identical.
    reference = align(tokens, "She sold 48 clips.", vocab, 3, method="dtw")
    assert transferred(reference) == [False, True, True, True, True]
    np.testing.assert_array_equal(reference.teacher_ids[1:], result.teacher_ids[1:])
    np.testing.assert_array_equal(reference.teacher_logprobs[1:], result.teacher_logprobs[1:])


def test_text_start_takes_the_dummy_prefix(vocab) -> None:
    tokens = teacher(("She", -0.05, [("She", -0.05), ("He", -3.1), (" They", -4.0), ("\n", -5.0)]), (".", -0.1, []))
    result = align(tokens, "She.", vocab, 4)
    assert result.rule[0] == MERGED
    assert row(vocab, result, 0) == pytest.approx({"▁She": -0.05, "▁He": -3.1, "▁They": -4.0})


def test_newline_before_a_word_merges_by_the_chain_rule(vocab) -> None:
    tokens = teacher(
        ("She", -0.1, []),
        (" sold", -0.1, []),
        (".", -0.1, []),
        ("\n", -0.2, [("\n", -0.2), (" She", -2.5), ("\n\n", -3.0), (",", -4.0)]),
        ("She", -0.3, [("She", -0.3), ("He", -1.8), (" They", -2.5)]),
        (" sold", -0.1, []),
    )
    result = align(tokens, "She sold.\nShe sold", vocab, 5)
    assert pieces(vocab, result) == ["▁She", "▁sold", ".", "▁She", "▁sold"]
    assert result.rule[3] == MERGED and result.source[3] == 4
    # "\n" then X -> "▁X" with P(\n) P(X | \n); " She" instead of "\n" -> "▁She" too; "," stays glued.
    expected = {"▁She": np.logaddexp(-2.5, -0.2 - 0.3), "▁He": -0.2 - 1.8, "▁They": -0.2 - 2.5, ",": -4.0}
    assert row(vocab, result, 3) == pytest.approx(expected, abs=1e-6)
    assert sum(math.exp(lp) for lp in row(vocab, result, 3).values()) <= 1
    assert not transferred(align(tokens, "She sold.\nShe sold", vocab, 5, method="dtw"))[3]  # Fu et al.: one-hot


def test_whitespace_runs_fold_into_the_next_word(vocab, p50k) -> None:
    text = "Then she  sold 24.\n\n\nShe\tsold"
    tokens = p50k(text)
    assert b" " in tokens and b" sold" in tokens  # "  sold" is " " + " sold"
    result = align(plain(tokens), text, vocab, 2)
    assert normalize_text(text) == "Then she sold 24. She sold"
    sold = pieces(vocab, result).index("▁sold")
    assert result.teacher_logprobs[sold, 0] == np.float32(-0.1 * (tokens.index(b" sold") + 1))  # the one with the space
    she = pieces(vocab, result).index("▁She")
    assert result.rule[she] == MERGED  # "\n\n\n" + "She"


def test_money_numbers_transfer_only_where_the_splits_agree(vocab, p50k) -> None:
    text = "It cost $1,234.50 in total."
    assert p50k(text) == [b"It", b" cost", b" $", b"1", b",", b"234", b".", b"50", b" in", b" total", b"."]
    result = align(plain(p50k(text)), text, vocab, 2)
    assert pieces(vocab, result) == ["▁It", "▁cost", "▁$1", ",", "23", "4.5", "0", "▁in", "▁total", "."]
    assert transferred(result) == [True, True, False, True, False, False, False, True, True, True]
    assert result.teacher_logprobs[3, 0] == np.float32(-0.5)  # "," is teacher token 4


def test_calculator_notes_leave_the_text_and_dtw_warps_into_them(vocab, p50k) -> None:
    """Fast aligns to the tokens that produced the student's text; DTW may pick an identical token inside
    a removed <<...>> note (the teacher's distribution there is a different one)."""
    text = stand_in.completion_of(sources.gsm8k("train")[0], calculator_notes=True)  # "... 48+24 = <<48+24=72>>72"
    tokens = p50k(text)
    assert "48+24 = 72 clips" in normalize_text(text)
    fast_result = align(plain(tokens), text, vocab, 2)
    reference = align(plain(tokens), text, vocab, 2, method="dtw")
    names = pieces(vocab, fast_result)
    after_plus = names.index("+") + 1  # "24" of "48+24"
    outside, inside = [i + 1 for i, t in enumerate(tokens) if t == b"+"]  # the teacher's "24"s after a "+"
    assert names[after_plus] == "24" and tokens[outside] == tokens[inside] == b"24"
    assert fast_result.source[after_plus] == outside
    assert fast_result.teacher_logprobs[after_plus, 0] == np.float32(-0.1 * (outside + 1))
    assert reference.source[after_plus] == inside  # the "24" of "<<48+24=72>>"
    assert row(vocab, fast_result, pieces(vocab, fast_result).index("▁clips"))  # after the note, still aligned


def test_unknown_and_unicode_characters(vocab, p50k) -> None:
    text = "A café sells cakes × 3 for 5 元 each 😀 ok"
    tokens = p50k(text)
    assert tokens[-3:-1] == [b" \xf0\x9f\x98", b"\x80"]  # the emoji is split mid-character
    result = align(plain(tokens), text, vocab, 2)
    names = pieces(vocab, result)
    assert normalize_text(text) == "A café sells cakes * 3 for 5 元 each 😀 ok"
    assert names.count("<unk>") == 2  # 元 and 😀 have no T5 piece
    for position, name in enumerate(names):
        if name == "<unk>":
            assert not transferred(result)[position]
    assert result.rule[names.index("▁café")] == IDENTICAL
    assert result.rule[names.index("▁*")] == MERGED  # " ×" normalizes to "▁*"
    assert result.rule[names.index("▁each")] == IDENTICAL


def test_partial_utf8_tokens_never_transfer(vocab) -> None:
    emoji = "😀".encode()
    tokens = plain([b"Smile", b" ", emoji[:2], emoji[2:], b" now"])
    result = align(tokens, "Smile 😀 now", vocab, 2)
    assert 2 not in result.source.tolist() and 3 not in result.source.tolist()
    assert result.source[-1] == 4


def test_merges_and_splits_both_ways_get_no_mass(vocab) -> None:
    # teacher 2 -> student 1 (" base" + "ball" = "▁baseball"); teacher 1 -> student 2 (" sells" = "▁sell" + "s")
    tokens = plain([b"He", b" base", b"ball", b" sells", b" cakes"])
    result = align(tokens, "He baseball sells cakes", vocab, 2)
    assert pieces(vocab, result) == ["▁He", "▁baseball", "▁sell", "s", "▁cakes"]
    assert transferred(result) == [True, False, False, False, True]
    assert transferred(align(tokens, "He baseball sells cakes", vocab, 2, method="dtw")) == [
        False,
        False,
        False,
        False,
        True,
    ]


def test_answer_line_added_to_the_target_has_no_teacher(vocab, p50k) -> None:
    completion = "She sold 48 clips."
    text = targets.cot_target_text(completion, "48")
    assert text == "She sold 48 clips.\nThe answer is 48"
    assert targets.cot_target_text("So 48.\nThe answer is 48.", "48") == "So 48.\nThe answer is 48."
    result = align(plain(p50k(completion)), text, vocab, 2)
    names = pieces(vocab, result)
    assert names[-4:] == ["▁The", "▁answer", "▁is", "▁48"]
    assert transferred(result)[-4:] == [False] * 4 and all(transferred(result)[1:5])


@pytest.mark.parametrize("number", [7, 24, 100, 365, 1234, 2023, 10000, 123456, 1234567, 3.75, 1000.5])
def test_numbers_transfer_exactly_where_both_tokenizers_cut_the_same(vocab, p50k, number) -> None:
    """T5 and GPT split multi-digit numbers differently; a piece gets mass iff a teacher token spans the same
    characters with the same string (checked against SentencePiece's own offsets)."""
    text = f"He paid {number} dollars, then {number:,} more."
    tokens = p50k(text)
    result = align(plain(tokens), text, vocab, 2)
    proto = vocab.sp.encode(text, out_type="proto").pieces
    teacher_spans, position = {}, 0
    for i, token in enumerate(tokens):
        teacher_spans[(position, position + len(token))] = (i, token.decode())
        position += len(token)
    for j, piece in enumerate(proto):
        match = teacher_spans.get((piece.begin, piece.end))  # a "▁" piece's span starts at its space
        same = match is not None and match[1].replace(" ", "▁") == piece.piece
        assert (result.rule[j] == IDENTICAL) == same, (piece.piece, match)
        if same:
            assert result.teacher_logprobs[j, 0] == np.float32(-0.1 * (match[0] + 1))


# --- teacher token sources ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def gsm8k_records() -> list[dict]:
    problems = sources.gsm8k("train")[:300]
    return list(stand_in.records(problems, P50K))


def test_retokenizing_with_the_teachers_tokenizer_reproduces_the_record(gsm8k_records, p50k) -> None:
    for record in gsm8k_records[:20]:
        from_record = teacher_tokens.from_record(record)
        again = teacher_tokens.retokenize(record["completion"], p50k, from_record)
        assert again.texts == from_record.texts and again.candidates == from_record.candidates
        np.testing.assert_array_equal(again.logprobs, from_record.logprobs)


def test_hugging_face_tokenizer_json_spells_the_text(gsm8k_records) -> None:
    tokenize = teacher_tokens.load_tokenizer(T5_JSON)
    for text in ["Natalia sold 48/2 = 24 clips.\nThen 1½ × 3 😀 元", "", "  \n "] + [
        r["completion"] for r in gsm8k_records[:5]
    ]:
        assert b"".join(tokenize(text)) == text.encode()
    record = gsm8k_records[0]
    retokenized = teacher_tokens.retokenize(record["completion"], tokenize, teacher_tokens.from_record(record))
    # Distributions only where a T5 token spans exactly one p50k token's bytes.
    p50k_tokens = set(teacher_tokens.from_record(record).texts)
    for text, known in zip(retokenized.texts, retokenized.known(), strict=True):
        assert not known or text in p50k_tokens


def test_bad_tokenizer_files_are_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.tiktoken"):
        teacher_tokens.load_tokenizer(str(tmp_path / "nope.tiktoken"))
    odd = tmp_path / "mine.tiktoken"
    odd.write_text("")
    with pytest.raises(ValueError, match="no tiktoken encoding named 'mine'"):
        teacher_tokens.load_tokenizer(str(odd))


def test_api_strings_that_do_not_spell_the_completion_fall_back_to_the_character_dp(vocab, gsm8k_records) -> None:
    """Some APIs name a byte token '\\ufffd' instead of `bytes:...`; the texts then differ and the banded DP
    lines them up, so only the positions at the broken characters lose teacher mass."""
    record = dict(gsm8k_records[3])
    emoji = "😀".encode()
    first = record["tokens"][0]
    record["tokens"] = [
        {**first, "token": "\ufffd", "bytes": list(emoji[:2])},
        {**first, "token": "\ufffd", "bytes": list(emoji[2:])},
        *record["tokens"],
    ]
    record["completion"] = "😀" + record["completion"]
    text = targets.cot_target_text(record["completion"], record["gold_answer"])
    assert token_bytes.string_bytes("bytes:\\xf0\\x9f") == emoji[:2]
    by_bytes = align(teacher_tokens.from_record(record, "bytes"), text, vocab, 5)
    by_strings = align(teacher_tokens.from_record(record, "strings"), text, vocab, 5)
    assert teacher_tokens.from_record(record, "strings").text() != record["completion"]
    assert by_strings.counts["identical"] >= by_bytes.counts["identical"] - 2
    same = (by_strings.rule == IDENTICAL) & (by_bytes.rule == IDENTICAL)
    np.testing.assert_array_equal(by_strings.teacher_logprobs[same], by_bytes.teacher_logprobs[same])


def test_char_alignment_matches_equal_characters_in_order() -> None:
    matched = targets.char_alignment("abcXdef ghi", "abcdYef ghi")
    assert matched.tolist() == [0, 1, 2, 4, -1, 5, 6, 7, 8, 9, 10]
    assert targets.char_alignment("", "ab").tolist() == [-1, -1]


# --- GSM8K: fast agrees with the reference where the reference transfers -----------------------


def byte_span_pairs(record: dict, tokens: TeacherSequence, vocab: StudentVocab) -> set[tuple[int, int]] | None:
    """Independent oracle: (student position, teacher token) pairs covering the same bytes, for completions that
    normalize by turning newlines into spaces only (None otherwise)."""
    completion = record["completion"]
    if normalize_text(completion) != completion.replace("\n", " "):
        return None
    teacher_spans, start = {}, 0
    for i, text in enumerate(tokens.texts):
        teacher_spans[(start, start + len(text))] = i
        start += len(text)
    proto = vocab.sp.encode(normalize_text(completion), out_type="proto").pieces
    return {(j, teacher_spans[(p.begin, p.end)]) for j, p in enumerate(proto) if (p.begin, p.end) in teacher_spans}


def test_fast_agrees_with_dtw_on_gsm8k_rationales(vocab, gsm8k_records) -> None:
    """GSM8K gold rationales in p50k_base as teacher samples: wherever Fu et al.'s DTW transfers teacher
    probabilities, the fast method gives the identical row, except where DTW paired tokens that do not cover the
    same characters (it warps onto an identical string nearby: '▁feed' of "feeds" onto ' feed' of "feeder" in
    gsm8k-train-0802). The first 300 questions have no such case; five later ones do."""
    misaligned = [stand_in.record(sources.gsm8k("train")[i], P50K) for i in (802, 1040, 1054, 1210, 1718)]
    dtw_positions = fast_positions = differences = 0
    for record in gsm8k_records + misaligned:
        tokens = teacher_tokens.from_record(record)
        text = targets.cot_target_text(record["completion"], record["gold_answer"])
        fast_result, reference = align(tokens, text, vocab, 5), align(tokens, text, vocab, 5, method="dtw")
        np.testing.assert_array_equal(fast_result.targets, reference.targets)
        same_bytes = byte_span_pairs(record, tokens, vocab)
        for j in np.flatnonzero(reference.rule == IDENTICAL):
            equal = (fast_result.teacher_ids[j] == reference.teacher_ids[j]).all()
            equal &= (fast_result.teacher_logprobs[j] == reference.teacher_logprobs[j]).all()
            if not equal:
                differences += 1
                assert same_bytes is not None and (j, reference.source[j]) not in same_bytes, (record["question_id"], j)
        if same_bytes is not None:  # and every identical pair of fast covers the same bytes
            assert {(j, fast_result.source[j]) for j in np.flatnonzero(fast_result.rule == IDENTICAL)} <= same_bytes
        dtw_positions += (reference.rule == IDENTICAL).sum()
        fast_positions += (fast_result.rule != NONE).sum()
    assert 5 <= differences < 1e-3 * dtw_positions and dtw_positions > 10_000
    assert fast_positions > 1.1 * dtw_positions


def test_dtw_recurrence_and_backtrace_follow_the_spec() -> None:
    cost = dtw.cost_matrix(["a", " b", "c"], ["▁a", "b", "▁bc"])
    np.testing.assert_array_equal(cost, [[0, 1, 2], [1, 0, 1], [1, 1, 1]])
    matrix = dtw.accumulated(cost)
    np.testing.assert_array_equal(matrix, [[0, 1, 3], [1, 0, 1], [2, 1, 1]])
    assert dtw.backtrace(matrix) == [[0], [1], [2]]
    # All ties: diagonal first, then up; (0, 0) is added at the end.
    assert dtw.backtrace(dtw.accumulated(np.zeros((3, 2), np.int64))) == [[1, 0], [2]]


# --- properties --------------------------------------------------------------------------------

ALPHABET = "ab xy0123456789.,$=+*/<>\n\t" + "é½×元😀"
WORDS = ["She", " sold", " 48", "<<4*2=8>>", "  ", "\n", "1,234", " café"]
ALTERNATIVES = [" the", "the", "\n", " 5", "5", " ×", " ", "é", "x y", "\n\n", ",", " She"]


@functools.cache
def _tokenizer(path: str):
    return teacher_tokens.load_tokenizer(path)


@st.composite
def teacher_samples(draw, tokenizer: str) -> tuple[str, TeacherSequence]:
    words = draw(
        st.lists(st.sampled_from(["She", " sold", " 48", "<<4*2=8>>", "  ", "\n", "1,234", " café"]), max_size=6)
    )
    text = draw(st.text(ALPHABET, max_size=25)) + "".join(words)
    texts = [t for t in _tokenizer(P50K if tokenizer == "p50k" else T5_JSON)(text) if t]
    candidates, logprobs = [], []
    for token in texts:
        alternatives = draw(st.lists(st.sampled_from(ALTERNATIVES), max_size=4, unique=True))
        logits = draw(st.lists(st.floats(-5, 5), min_size=len(alternatives) + 2, max_size=len(alternatives) + 2))
        lps = np.asarray(logits) - np.logaddexp.reduce(logits)  # the last one is the rest of the vocabulary
        candidates.append((token, *(a.encode() for a in alternatives if a.encode() != token)))
        logprobs.append(lps[: len(candidates[-1])].tolist())
    return text, sequence(candidates, logprobs)


@pytest.mark.parametrize("tokenizer", ["p50k", "t5-tokenizer.json"])
@pytest.mark.parametrize("method", ["fast", "dtw"])
def test_every_position_gets_a_valid_distribution(vocab, tokenizer, method) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(teacher_samples(tokenizer))
    def check(sample) -> None:
        text, tokens = sample
        result = align(tokens, text, vocab, 8, method)  # K above the candidates per token: none is cut
        assert result.targets.tolist() == vocab.sp.encode(normalize_text(text))
        assert result.teacher_ids.shape == result.teacher_logprobs.shape == (len(result.targets), 8)
        assert ((result.teacher_ids >= 0) & (result.teacher_ids < vocab.sp.get_piece_size())).all()
        finite = np.isfinite(result.teacher_logprobs)
        assert (result.teacher_logprobs[finite] <= 0).all() and (result.teacher_ids[~finite] == 0).all()
        assert (result.teacher_logprobs[~finite] == NO_MASS).all()
        assert (np.exp(result.teacher_logprobs).sum(axis=1) <= 1 + 1e-6).all()
        strings = tokens.strings()
        for j in np.flatnonzero(result.rule == IDENTICAL):
            x = result.source[j]
            assert strings[x].replace(" ", "▁") == vocab.pieces[result.targets[j]]
            assert row(vocab, result, j)[vocab.pieces[result.targets[j]]] == np.float32(tokens.logprobs[x, 0])

    check()


@settings(max_examples=200, deadline=None)
@given(st.text(ALPHABET + "<<>>¢ñ\u200b", max_size=40))
def test_normalization_origins_track_normalize_text(text) -> None:
    normalized, origins = targets.normalize_with_origins(text)
    assert normalized == normalize_text(text)
    assert len(origins) == len(normalized) and (np.diff(origins) >= 0).all()
    for char, origin in zip(normalized, origins.tolist(), strict=True):
        assert (
            char == text[origin]
            or (char == " " and text[origin].isspace())
            or not text[origin].isascii()
            or (text[origin] in "<{}~^\\`")
        )


def test_stand_in_records_are_valid_teacher_records(gsm8k_records) -> None:
    from distill.contracts import teacher_records

    for record in gsm8k_records[:50]:
        teacher_records.validate(record, "stand-in")
    first = gsm8k_records[0]
    assert first["completion"].endswith("The answer is 72") and "<<" not in first["completion"]
    with_notes = stand_in.record(sources.gsm8k("train")[0], P50K, calculator_notes=True)
    assert "<<48/2=24>>" in with_notes["completion"]
    assert stand_in.record(sources.gsm8k("train")[0], P50K) == first  # deterministic
    assert formats.strip_calculator_notes(with_notes["completion"]) == first["completion"]
